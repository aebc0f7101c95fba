"""Cover choice and its place in the calendar plan (pure), with properties."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from urllib.parse import urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.schedule import (
    ADOPTED_COVER,
    DEFAULT_COVER_HOSTS,
    ActionKind,
    CalendarPlan,
    CoverPolicy,
    Entry,
    allowed_cover_url,
    apply_plan,
    choose_cover,
    cover_candidates,
    cover_host,
    plan_calendar,
)
from bot.core.snapshot import Snapshot
from tests.core.schedule.support import T0, calendar, entry_for, launch

LL2 = "https://thespacedevs-prod.nyc3.digitaloceanspaces.com/media/images/"
IMAGE = LL2 + "falcon2520925_image_20221009234147.jpg"
THUMB = LL2 + "255bauto255d__falcon2520925_image_20221009234147_thumbnail.jpeg"
NEW_IMAGE = LL2 + "falcon_9_image_20250101000000.jpg"
POLICY = CoverPolicy()


def pictured(
    image: str | None, thumbnail: str | None = None, item_id: str = "launch-1"
) -> Snapshot:
    """A launch three hours after T0 with LL2 ``image`` and ``thumbnail`` URLs."""
    item = launch(T0 + timedelta(hours=3), item_id)
    return item.model_copy(
        update={"display": replace(item.display, image_url=image, thumbnail_url=thumbnail)}
    )


def shown(item: Snapshot, cover: str | None, event_id: int = 1) -> Entry:
    """An entry mirroring ``item`` exactly, showing ``cover``."""
    entry = entry_for(item, event_id)
    return replace(entry, fields=replace(entry.fields, cover=cover))


def plan(item: Snapshot, entries: list[Entry], covers: CoverPolicy | None = POLICY) -> CalendarPlan:
    """The plan for one item at T0."""
    return plan_calendar([item], calendar(), entries, T0, covers=covers)


def test_the_image_comes_first_then_the_thumbnail() -> None:
    """LL2's image is the cover; the thumbnail only when the image is missing, on another
    host, or unavailable; nothing when neither is usable."""
    assert choose_cover(pictured(IMAGE, THUMB), POLICY) == IMAGE
    assert choose_cover(pictured(None, THUMB), POLICY) == THUMB
    assert choose_cover(pictured("https://imgur.com/x.jpg", THUMB), POLICY) == THUMB
    assert choose_cover(pictured(IMAGE, THUMB), CoverPolicy(unavailable=frozenset({IMAGE}))) == (
        THUMB
    )
    assert choose_cover(pictured("http://x/y.png", None), POLICY) is None
    assert choose_cover(pictured(IMAGE, THUMB), None) is None
    assert cover_candidates(pictured(IMAGE, IMAGE), DEFAULT_COVER_HOSTS) == (IMAGE,)


def test_only_https_on_an_allowed_host_without_user_info() -> None:
    """The allow-list is by host (and port when one is given); anything else is refused."""
    hosts = frozenset({"images.example", "cdn.example:8443"})
    assert (
        allowed_cover_url("https://images.example/a.png", hosts) == "https://images.example/a.png"
    )
    assert allowed_cover_url("https://IMAGES.example:443/a.png", hosts) is not None
    assert allowed_cover_url("https://cdn.example:8443/a.png", hosts) is not None
    for refused in (
        "http://images.example/a.png",
        "ftp://images.example/a.png",
        "https://images.example:8443/a.png",
        "https://cdn.example/a.png",
        "https://images.example.evil.example/a.png",
        "https://evil.example/images.example/a.png",
        "https://images.example@evil.example/a.png",
        "https://user:pw@images.example/a.png",
        "https://images.example/a b.png",
        "//images.example/a.png",
        "",
        None,
    ):
        assert allowed_cover_url(refused, hosts) is None, refused


def test_allow_list_entries_are_canonical_host_names() -> None:
    """Lower case, ``:443`` dropped; a scheme, path, user info or bad port is refused."""
    assert cover_host(" Images.Example ") == "images.example"
    assert cover_host("images.example:443") == "images.example"
    assert cover_host("127.0.0.1:8443") == "127.0.0.1:8443"
    for bad in ("https://images.example", "images.example/x", "a@b", "host:0", "host:70000", ""):
        assert cover_host(bad) is None, bad


def test_a_create_carries_the_cover_and_its_fallback() -> None:
    """The create's fields name the image; the thumbnail is the fallback to try."""
    [create] = plan(pictured(IMAGE, THUMB), []).actions
    assert create.kind is ActionKind.CREATE
    assert create.fields is not None
    assert create.fields.cover == IMAGE
    assert create.cover_fallbacks == (THUMB,)


def test_an_unchanged_cover_is_left_alone_and_a_changed_one_updated_once() -> None:
    """Same image: nothing. New LL2 image: one UPDATE changing only the cover; once applied,
    nothing more."""
    item = pictured(IMAGE, THUMB)
    entries = [shown(item, IMAGE)]
    assert plan(item, entries).actions == ()
    moved = pictured(NEW_IMAGE, THUMB)
    result = plan(moved, entries)
    [update] = result.actions
    assert (update.kind, update.changed) == (ActionKind.UPDATE, ("cover",))
    assert update.cover_fallbacks == (THUMB,)
    assert plan(moved, apply_plan(entries, result)).actions == ()


def test_the_fallbacks_stop_before_the_cover_already_shown() -> None:
    """The event shows the thumbnail; the image is tried again, and falling back to the
    thumbnail would change nothing, so there is no fallback."""
    item = pictured(IMAGE, THUMB)
    [update] = plan(item, [shown(item, THUMB)]).actions
    assert update.fields is not None
    assert (update.fields.cover, update.cover_fallbacks) == (IMAGE, ())


def test_no_usable_cover_never_removes_the_one_shown() -> None:
    """LL2 dropped its image, the host left the allow-list, the source is unavailable or
    covers are off: the event keeps its cover, and no update is planned."""
    shown_entry = [shown(pictured(IMAGE), IMAGE)]
    assert plan(pictured(None), shown_entry).actions == ()
    assert (
        plan(pictured(IMAGE), shown_entry, CoverPolicy(hosts=frozenset({"x.example"}))).actions
        == ()
    )
    assert (
        plan(
            pictured(NEW_IMAGE), shown_entry, CoverPolicy(unavailable=frozenset({NEW_IMAGE}))
        ).actions
        == ()
    )
    assert plan(pictured(NEW_IMAGE), shown_entry, None).actions == ()


def test_an_adopted_cover_is_taken_for_the_current_choice() -> None:
    """An adopted event with an image: no upload; the plan reports the source to record, and
    applying it makes the next LL2 change an ordinary one."""
    item = pictured(IMAGE, THUMB)
    entries = [shown(item, ADOPTED_COVER)]
    result = plan(item, entries)
    assert result.actions == ()
    assert result.adopted_covers == (("launch:launch-1", IMAGE),)
    [after] = apply_plan(entries, result)
    assert after.fields.cover == IMAGE
    [update] = plan(pictured(NEW_IMAGE), [after]).actions
    assert update.changed == ("cover",)
    # Without a usable choice the marker stays (nothing to record).
    assert plan(pictured(None), entries).adopted_covers == ()


HOSTS = ("images.example", "cdn.example:8443")
_host_st = st.sampled_from(
    (
        "images.example",
        "IMAGES.example",
        "cdn.example:8443",
        "cdn.example",
        "images.example:8443",
        "evil.example",
        "images.example.evil.example",
        "user@images.example",
        "images.example@evil.example",
        "[::1]",
        "",
    )
)
_url_st = st.one_of(
    st.builds(
        lambda scheme, host, path: f"{scheme}{host}{path}",
        st.sampled_from(("https://", "HTTPS://", "http://", "ftp://", "//", "")),
        _host_st,
        st.sampled_from(("/a.png", "/x y.jpg", "/é.png", "", "?q=1", "/@everyone.png")),
    ),
    st.text(max_size=60),
    st.none(),
)


@settings(max_examples=500)  # pure and quick; the bad corners are a few percent of inputs
@given(
    _url_st, _url_st, st.lists(st.sampled_from(HOSTS), unique=True), st.sets(_url_st.filter(bool))
)
def test_a_chosen_cover_is_always_https_on_an_allowed_host(
    image: str | None, thumbnail: str | None, hosts: list[str], unavailable: set[str]
) -> None:
    """Whatever LL2 sends: the chosen cover is None or an https URL whose host (and port)
    is on the allow-list, not unavailable, and one of the item's two URLs (made safe)."""
    policy = CoverPolicy(frozenset(hosts), frozenset(u for u in unavailable if u))
    item = pictured(image, thumbnail)
    chosen = choose_cover(item, policy)
    if chosen is None:
        return
    parts = urlsplit(chosen)
    assert parts.scheme == "https"
    assert parts.username is None
    assert parts.hostname is not None
    key = parts.hostname if parts.port in (None, 443) else f"{parts.hostname}:{parts.port}"
    assert key in hosts
    assert chosen not in policy.unavailable
    assert chosen in {allowed_cover_url(image, hosts), allowed_cover_url(thumbnail, hosts)}


@given(
    st.lists(st.tuples(_url_st, _url_st), min_size=1, max_size=4),
    st.sets(st.sampled_from((IMAGE, THUMB, NEW_IMAGE))),
)
def test_covers_converge_and_never_leave_the_allow_list(
    timeline: list[tuple[str | None, str | None]], unavailable: set[str]
) -> None:
    """Over a timeline of LL2 image changes: every cover an action sets is allowed, and once
    a plan is applied the next plan at the same moment changes no cover."""
    hosts = frozenset({*DEFAULT_COVER_HOSTS, "images.example"})
    policy = CoverPolicy(hosts, frozenset(unavailable))
    entries: list[Entry] = []
    for image, thumbnail in timeline:
        item = pictured(image, thumbnail)
        result = plan(item, entries, policy)
        for action in result.actions:
            if action.fields is not None and action.fields.cover is not None:
                assert allowed_cover_url(action.fields.cover, hosts) == action.fields.cover
            for spare in action.cover_fallbacks:
                assert allowed_cover_url(spare, hosts) == spare
        entries = apply_plan(entries, result)
        again = plan(item, entries, policy)
        assert not [a for a in again.actions if "cover" in a.changed]
