"""Settings loading: files, environment overrides, and one-line errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.config import ConfigError, Settings, environment_overrides, load_settings, masked_dump

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("SPACECAST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return str(path)


def test_missing_default_file_means_defaults() -> None:
    """Without any config file the built-in defaults apply."""
    settings = load_settings(None)
    assert settings.ll2.requests_per_hour == 15
    assert settings.database.url == "sqlite+aiosqlite:///spacecast.db"
    assert settings.discord.api_base_url == "https://discord.com/api/v10"


def test_example_config_matches_defaults() -> None:
    """config.example.yaml loads and documents every key with its default value."""
    example = load_settings(str(ROOT / "config.example.yaml"))
    assert example.model_dump() == Settings().model_dump()
    raw = yaml.safe_load((ROOT / "config.example.yaml").read_text())
    for section, values in Settings().model_dump().items():
        assert set(values) == set(raw[section]), section


def test_env_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SPACECAST_<SECTION>__<KEY> wins over the YAML file."""
    path = _write(tmp_path, "ll2:\n  requests_per_hour: 30\n")
    monkeypatch.setenv("SPACECAST_LL2__REQUESTS_PER_HOUR", "60")
    assert load_settings(path).ll2.requests_per_hour == 60


def test_spacecast_config_env_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SPACECAST_CONFIG selects the file when --config is absent."""
    monkeypatch.setenv("SPACECAST_CONFIG", _write(tmp_path, "logging:\n  format: json\n"))
    assert load_settings(None).logging.format == "json"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ll2:\n  requests_per_hour: -3\n", "ll2.requests_per_hour: must be a positive integer"),
        ("ll2:\n  requests_per_hour: lots\n", "ll2.requests_per_hour: must be an integer"),
        ("ll2:\n  rate: 3\n", "ll2.rate: unknown key"),
        ("lll2:\n  base_url: x\n", "lll2: unknown key"),
        ("logging:\n  format: xml\n", "logging.format: input should be 'text' or 'json'"),
        ("database:\n  url: mysql://x\n", "database.url: must start with sqlite+aiosqlite://"),
        ("ll2: [\n", "unreadable YAML (line 2, column 1)"),
        ("- just\n- a list\n", "(top level): must be a mapping of sections"),
        (
            "calendar:\n  cover_hosts: [https://images.example/x]\n",
            "calendar.cover_hosts: 'https://images.example/x' is not a host name",
        ),
        (
            "calendar:\n  cover_hosts: []\n",
            "calendar.cover_hosts: must list at least one host (or set calendar.covers: false)",
        ),
        ("calendar:\n  cover_max_bytes: 0\n", "calendar.cover_max_bytes: must be a positive"),
        (
            "calendar:\n  cover_max_bytes: 100000000\n",
            "calendar.cover_max_bytes: input should be less than or equal to 8388608",
        ),
        ("calendar:\n  covers: maybe\n", "calendar.covers: must be true or false"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    """Each malformed config yields one line naming the file and the key path."""
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message


def test_named_missing_file_is_an_error(tmp_path: Path) -> None:
    """A --config path that does not exist is refused, not silently defaulted."""
    with pytest.raises(ConfigError, match=r"nope\.yaml: file not found"):
        load_settings(str(tmp_path / "nope.yaml"))


def test_bad_env_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad override from the environment names the variable, not a file."""
    monkeypatch.setenv("SPACECAST_LL2__REQUESTS_PER_HOUR", "0")
    with pytest.raises(ConfigError, match="environment SPACECAST_LL2__REQUESTS_PER_HOUR"):
        load_settings(None)


def test_secrets_are_masked(tmp_path: Path) -> None:
    """masked_dump never contains the token or the API key."""
    path = _write(tmp_path, "discord:\n  token: sekrit-token-123\nll2:\n  api_key: key-456789\n")
    settings = load_settings(path)
    dumped = repr(masked_dump(settings)) + repr(settings)
    assert "sekrit-token-123" not in dumped
    assert "key-456789" not in dumped
    assert settings.discord.token is not None
    assert settings.discord.token.get_secret_value() == "sekrit-token-123"


def test_deadline_minutes_merge_with_defaults(tmp_path: Path) -> None:
    """Setting one kind's deadline keeps the others' defaults."""
    settings = load_settings(
        _write(tmp_path, "delivery:\n  deadline_minutes:\n    webcast_live: 30\n")
    )
    assert settings.delivery.deadline_minutes["webcast_live"] == 30
    assert settings.delivery.deadline_minutes["new_item"] == 1440


def _error_for(tmp_path: Path, text: str) -> str:
    """The ConfigError loading ``text`` gives, without the leading file name."""
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    return str(info.value).removeprefix(f"{path}: ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("delivery:\n  deadline_minutes:\n    webcast: 5\n", "unknown alert kind 'webcast'"),
        ("delivery:\n  deadline_minutes:\n    webcast_live: -1\n", "0 (never expires) or more"),
    ],
)
def test_bad_deadline_minutes_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    """A bad deadline is one error naming delivery.deadline_minutes and what is wrong."""
    with pytest.raises(ConfigError, match=r"delivery\.deadline_minutes") as caught:
        load_settings(_write(tmp_path, text))
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ll2:\n  requests_per_hour: true\n", "ll2.requests_per_hour: must be an integer"),
        ("ll2:\n  timeout_seconds: false\n", "ll2.timeout_seconds: must be a number"),
        (
            "discord:\n  shard_count: 2\n  shard_ids: [true]\n",
            "discord.shard_ids: must be an integer",
        ),
    ],
)
def test_true_or_false_is_not_a_number(tmp_path: Path, text: str, expected: str) -> None:
    """YAML booleans are refused for numeric keys instead of being read as 1 or 0."""
    assert _error_for(tmp_path, text) == f"{expected}, not true/false"


def test_zero_for_a_float_key_asks_for_a_positive_number(tmp_path: Path) -> None:
    """A float key's error does not ask for an integer just because the value typed was one."""
    message = _error_for(tmp_path, "ll2:\n  timeout_seconds: 0\n")
    assert message == "ll2.timeout_seconds: must be a positive number"


def test_fraction_for_an_integer_key_is_one_plain_line(tmp_path: Path) -> None:
    """15.7 for an integer key says what the key must be, in our words, not pydantic's."""
    message = _error_for(tmp_path, "ll2:\n  requests_per_hour: 15.7\n")
    assert message == "ll2.requests_per_hour: must be an integer"


def test_further_problems_are_named_on_the_same_line(tmp_path: Path) -> None:
    """With several bad keys, the first is described and the others are named."""
    message = _error_for(tmp_path, "ll2:\n  requests_per_hour: 15.7\n  max_retries: -1\n")
    assert message == "ll2.requests_per_hour: must be an integer (and 1 more: ll2.max_retries)"


def test_shard_id_outside_shard_count_is_refused(tmp_path: Path) -> None:
    """Each shard id must be below shard_count (0 <= id < shard_count)."""
    message = _error_for(tmp_path, "discord:\n  shard_count: 2\n  shard_ids: [5]\n")
    assert message == "discord.shard_ids: must be distinct ids from 0 to 1 (shard_count - 1)"


def test_shard_ids_without_shard_count_are_refused(tmp_path: Path) -> None:
    """shard_ids alone cannot be checked or used: the key it needs is named."""
    message = _error_for(tmp_path, "discord:\n  shard_ids: [0]\n")
    assert message == "discord.shard_ids: needs discord.shard_count as well"


def test_env_numbers_arrive_as_strings_and_still_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refusing YAML booleans leaves string overrides alone: integer and float keys parse."""
    monkeypatch.setenv("SPACECAST_LL2__REQUESTS_PER_HOUR", "30")
    monkeypatch.setenv("SPACECAST_LL2__TIMEOUT_SECONDS", "7.5")
    settings = load_settings(None)
    assert (settings.ll2.requests_per_hour, settings.ll2.timeout_seconds) == (30, 7.5)


def test_environment_overrides_lists_only_setting_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only SPACECAST_<SECTION>__<KEY> variables count; SPACECAST_CONFIG and others do not."""
    assert environment_overrides() == []
    monkeypatch.setenv("SPACECAST_CONFIG", "elsewhere.yaml")
    monkeypatch.setenv("SPACECAST_POLL_TICK_SECONDS", "1")
    assert environment_overrides() == []
    monkeypatch.setenv("SPACECAST_LL2__REQUESTS_PER_HOUR", "30")
    assert environment_overrides() == ["ll2.requests_per_hour"]


def test_cover_hosts_are_canonical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cover hosts are lower-cased with a default :443 dropped; the environment takes JSON."""
    path = _write(tmp_path, "calendar:\n  cover_hosts: [Images.Example:443, cdn.example:8443]\n")
    assert load_settings(path).calendar.cover_hosts == ["images.example", "cdn.example:8443"]
    assert Settings().calendar.cover_hosts == ["thespacedevs-prod.nyc3.digitaloceanspaces.com"]
    monkeypatch.setenv("SPACECAST_CALENDAR__COVER_HOSTS", '["other.example"]')
    assert load_settings(path).calendar.cover_hosts == ["other.example"]
