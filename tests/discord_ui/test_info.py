"""``/next`` and ``/event``: answers from the local snapshot, public, with local-time stamps."""

from __future__ import annotations

from datetime import timedelta

from simcord import assert_responded

from tests.discord_ui.conftest import EVENT_NAME, LAUNCH_ID, LAUNCH_NAME, World


def field_names(result: object) -> list[str]:
    """Field names of the single embed in an interaction's response."""
    response = getattr(result, "response", None)
    assert response is not None
    [embed] = response.embeds
    return [f.name or "" for f in embed.fields]


async def test_next_lists_launches_and_events_soonest_first(world: World) -> None:
    """Everyone may ask; the answer is public and dated with <t:…:F> and <t:…:R>."""
    result = await world.member.slash(world.channel, "next")
    assert result.response is not None
    assert not result.response.ephemeral
    [embed] = result.response.embeds
    assert embed.title == "Next launches and events"
    assert field_names(result) == [f"1. {LAUNCH_NAME}", f"2. {EVENT_NAME}"]
    launch_at = int((world.now + timedelta(days=1)).timestamp())
    assert f"<t:{launch_at}:F> (<t:{launch_at}:R>)" in (embed.fields[0].value or "")


async def test_next_filters_by_kind_and_count(world: World) -> None:
    """``kind`` picks the source; ``count`` caps the list."""
    launches = await world.member.slash(world.channel, "next", kind="launches")
    assert field_names(launches) == [f"1. {LAUNCH_NAME}"]
    one = await world.member.slash(world.channel, "next", count=1)
    assert field_names(one) == [f"1. {LAUNCH_NAME}"]


async def test_next_filters_events_by_type(world: World) -> None:
    """A type from autocomplete keeps only events of that type, named in the title."""
    choices = await world.member.autocomplete(world.channel, "next", "type", "dock")
    assert choices == [
        {"name": "Docking (2)", "value": 2},
        {"name": "Undocking (8)", "value": 8},
    ]
    result = await world.member.slash(world.channel, "next", type=2)
    assert result.response is not None
    assert result.response.embeds[0].title == "Next Docking events"
    assert field_names(result) == [f"1. {EVENT_NAME}"]


async def test_next_with_nothing_upcoming_says_so_kindly(world: World) -> None:
    """No EVA is stored: a friendly ephemeral note, not an empty embed."""
    result = await world.member.slash(world.channel, "next", type=3)
    assert_responded(result, contains="Nothing upcoming in my local copy yet", ephemeral=True)


async def test_next_refuses_an_unknown_type_and_a_type_for_launches(world: World) -> None:
    """Type ids are checked; a type filter on launches is a contradiction."""
    unknown = await world.member.slash(world.channel, "next", type=999)
    assert_responded(unknown, contains="I don't know event type 999", ephemeral=True)
    both = await world.member.slash(world.channel, "next", kind="launches", type=2)
    assert_responded(both, contains="`type` filters events", ephemeral=True)


async def test_next_ignores_items_already_past(world: World) -> None:
    """Only items dated after now count."""
    past = world.now - timedelta(hours=1)
    [launch] = await world.store.upcoming(world.now, 1)
    await world.store.save_snapshots([launch.model_copy(update={"date": past})], seen_at=past)
    assert field_names(await world.member.slash(world.channel, "next")) == [f"1. {EVENT_NAME}"]


async def test_event_autocomplete_filters_by_name(world: World) -> None:
    """Suggestions match the typed name; values are item references."""
    docking = await world.member.autocomplete(world.channel, "event", "query", "crew dragon")
    assert docking == [
        {"name": f"{EVENT_NAME} · 2026-01-03 00:00 UTC · event", "value": "event:1201"}
    ]
    starlink = await world.member.autocomplete(world.channel, "event", "query", "starlink")
    assert [c["value"] for c in starlink] == [f"launch:{LAUNCH_ID}"]


async def test_event_shows_the_card_with_link_buttons(world: World) -> None:
    """The chosen suggestion renders render_item's card with a Watch button."""
    result = await world.member.slash(world.channel, "event", query="event:1201")
    assert result.response is not None
    assert not result.response.ephemeral
    [embed] = result.response.embeds
    assert EVENT_NAME in (embed.title or "")
    buttons = [b for row in result.response.components for b in row["components"]]
    assert [(b["label"], b["style"]) for b in buttons] == [("Watch", 5)]
    assert buttons[0]["url"].startswith("https://")


async def test_event_accepts_a_typed_name(world: World) -> None:
    """Free text (no suggestion picked) finds the best name match."""
    result = await world.member.slash(world.channel, "event", query="Starlink")
    assert result.response is not None
    assert LAUNCH_NAME in (result.response.embeds[0].title or "")


async def test_event_not_found_is_ephemeral(world: World) -> None:
    """Nothing matching: a private hint."""
    result = await world.member.slash(world.channel, "event", query="Apollo 18")
    assert_responded(
        result, contains="Nothing in my local copy matches “Apollo 18”", ephemeral=True
    )


async def test_next_and_event_work_in_a_dm_but_settings_do_not(world: World) -> None:
    """/next is for anyone anywhere; /spacecast exists only in servers."""
    user = world.env.create_user("carol")
    assert set(user.available_commands()) == {"next", "event"}
    result = await user.slash("next", kind="events")
    assert result.response is not None
    assert field_names(result) == [f"1. {EVENT_NAME}"]


async def test_next_leaves_out_an_item_ll2_no_longer_lists(world: World) -> None:
    """After a complete read of LL2's upcoming launches that did not have the launch (it was
    last seen before that read), /next shows only the event."""
    read_at = world.now + timedelta(minutes=1)
    await world.store.set_datetime("poll:last_success:full_upcoming:launch", read_at)
    result = await world.member.slash(world.channel, "next")
    assert field_names(result) == [f"1. {EVENT_NAME}"]
