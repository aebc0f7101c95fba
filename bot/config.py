"""Settings: one YAML file, overridden by ``SPACECAST_<SECTION>__<KEY>`` environment variables.

The file path comes from ``--config``, else ``SPACECAST_CONFIG``, else ``./config.yaml``; a
missing *default* file means built-in defaults, a missing *named* file is an error. Every problem
becomes a :class:`ConfigError` whose message names the file and the key path, so the CLI can
print one line instead of a traceback.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

if TYPE_CHECKING:
    from bot.core.changes import ChangeKind
    from bot.core.planner import PlannerConfig

DEFAULT_CONFIG_PATH = Path("config.yaml")
CONFIG_ENV_VAR = "SPACECAST_CONFIG"


class ConfigError(Exception):
    """A configuration problem, phrased for the operator: ``file: key.path: what is wrong``."""


def _number_type(annotation: Any) -> type | None:
    """``int`` or ``float`` when ``annotation`` is one (or an optional one, or a list of one)."""
    if annotation is int or annotation is float:
        return annotation
    for arg in get_args(annotation):
        if (found := _number_type(arg)) is not None:
            return found
    return None


class _Section(BaseModel):
    # Unknown keys are typos until proven otherwise: refuse them so they cannot silently do nothing.
    model_config = ConfigDict(extra="forbid", validate_default=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_number(cls, value: Any, info: ValidationInfo) -> Any:
        # YAML reads `true` as a bool, which pydantic's lax mode takes for 1. Strict mode would
        # refuse it but also refuse the strings environment overrides arrive as, so only
        # booleans are turned away here.
        if info.field_name is None:
            return value
        kind = _number_type(cls.model_fields[info.field_name].annotation)
        values = value if isinstance(value, list) else [value]
        if kind is not None and any(isinstance(v, bool) for v in values):
            noun = "an integer" if kind is int else "a number"
            raise PydanticCustomError("bool_for_number", f"must be {noun}, not true/false")
        return value


class DiscordSettings(_Section):
    """How the bot reaches Discord."""

    token: SecretStr | None = None
    api_base_url: str = "https://discord.com/api/v10"
    gateway_url: str | None = None
    shard_count: int | None = Field(default=None, gt=0)
    shard_ids: list[int] | None = None
    test_guild_id: int | None = Field(default=None, gt=0)

    @field_validator("api_base_url", "gateway_url")
    @classmethod
    def _url_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://", "ws://", "wss://")):
            raise ValueError("must be an http(s):// or ws(s):// URL")
        return value


class LL2Settings(_Section):
    """Launch Library 2 API access and the request budget."""

    base_url: str = "https://ll.thespacedevs.com/2.3.0"
    api_key: SecretStr | None = None
    requests_per_hour: int = Field(default=15, gt=0)
    timeout_seconds: float = Field(default=20.0, gt=0)
    # timeout_seconds bounds each network read; a server trickling bytes could hold a request
    # for ever without this bound on the whole request.
    request_deadline_seconds: float = Field(default=60.0, gt=0)
    # LL2's largest real page is under 2 MB; the cap keeps a broken answer out of memory.
    max_body_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    max_retries: int = Field(default=3, ge=0)
    updated_overlap_seconds: int = Field(default=120, ge=0)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")


class DatabaseSettings(_Section):
    """Where snapshots, subscriptions and the outbox live."""

    url: str = "sqlite+aiosqlite:///spacecast.db"

    @field_validator("url")
    @classmethod
    def _supported(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value


class LoggingSettings(_Section):
    """Log verbosity and shape."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    format: Literal["text", "json"] = "text"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class PollingSettings(_Section):
    """What counts as a change and how eagerly to look for one."""

    interval_seconds: int = Field(default=240, gt=0)
    date_change_threshold_seconds: int = Field(default=60, ge=0)
    hot_window_before_minutes: int = Field(default=180, ge=0)
    hot_window_after_minutes: int = Field(default=180, ge=0)
    full_refresh_minutes: int = Field(default=360, gt=0)
    reserve_requests: int = Field(default=2, ge=0)

    def planner_config(self) -> PlannerConfig:
        """The planner's own value for these settings (the core never imports this module)."""
        from bot.core.planner import PlannerConfig  # lazy: most commands never plan a poll
        from bot.core.snapshot import Source

        return PlannerConfig(
            hot_window_before=timedelta(minutes=self.hot_window_before_minutes),
            hot_window_after=timedelta(minutes=self.hot_window_after_minutes),
            full_refresh_every=timedelta(minutes=self.full_refresh_minutes),
            reserve=self.reserve_requests,
            interval=timedelta(seconds=self.interval_seconds),
            # Two sources read in turn at the interval: each is read every two intervals.
            cover_gap=timedelta(seconds=self.interval_seconds * len(Source)),
        )


def _default_deadlines() -> dict[str, int]:
    from bot.core.deadlines import DEFAULT_DEADLINE_MINUTES

    return {kind.value: minutes for kind, minutes in DEFAULT_DEADLINE_MINUTES.items()}


class DeliverySettings(_Section):
    """Outbox worker behaviour."""

    concurrency: int = Field(default=8, gt=0)
    # Requests per second of the whole deployment (every process on one bot token together):
    # Discord's global limit is about 50/s per token; a bot granted more raises this.
    global_rate_per_second: float = Field(default=45.0, gt=0)
    max_attempts: int = Field(default=5, gt=0)
    # Transient errors (Discord 5xx, 429, timeouts) fail a message only once it has had
    # max_attempts tries *and* is this old: a Discord outage of an hour delays alerts, it does
    # not drop them.
    retry_for_minutes: int = Field(default=120, ge=0)
    quiet_period_minutes: int = Field(default=10, ge=0)
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    # Per alert kind, how many minutes an alert stays worth sending (0 = never expires); an
    # alert still undelivered after that is marked expired instead of arriving as stale news.
    deadline_minutes: dict[str, int] = Field(default_factory=_default_deadlines)

    @field_validator("deadline_minutes")
    @classmethod
    def _known_kinds(cls, value: dict[str, int]) -> dict[str, int]:
        from bot.core.changes import ALERT_KINDS

        known = {k.value for k in ALERT_KINDS}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(
                f"unknown alert kind {unknown[0]!r} (known: {', '.join(sorted(known))})"
            )
        if any(minutes < 0 for minutes in value.values()):
            raise ValueError("minutes must be 0 (never expires) or more")
        # Kinds left out keep their defaults, so a file may set just one.
        return {**_default_deadlines(), **value}

    def deadlines(self) -> dict[ChangeKind, int]:
        """``deadline_minutes`` keyed by alert kind, for the core."""
        from bot.core.changes import ChangeKind

        return {ChangeKind(kind): minutes for kind, minutes in self.deadline_minutes.items()}


class FeedSettings(_Section):
    """The followable feed: alert kinds posted once to the operator's announcement channels."""

    # Alert kind (or "all") -> announcement channel id. Env: SPACECAST_FEED__CHANNELS as JSON.
    channels: dict[str, int] = Field(default_factory=dict)

    @field_validator("channels")
    @classmethod
    def _kinds_and_ids(cls, value: dict[str, int]) -> dict[str, int]:
        from bot.core.changes import ALERT_KINDS

        known = {k.value for k in ALERT_KINDS} | {"all"}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(
                f"unknown alert kind {unknown[0]!r} (known: {', '.join(sorted(known))})"
            )
        bad = [k for k, channel in value.items() if not 0 < channel < 2**63]
        if bad:
            raise ValueError(f"{bad[0]}: must be a Discord channel id (a positive integer)")
        return value


def _default_cover_hosts() -> list[str]:
    from bot.core.schedule import DEFAULT_COVER_HOSTS

    return sorted(DEFAULT_COVER_HOSTS)


class CalendarJobSettings(_Section):
    """The server calendar job (Discord scheduled events): its pace and cover images."""

    # Scheduled-event requests per second, every guild together, at most Discord's global
    # 50/s per token (Discord docs, "Rate Limits": "All bots can make up to 50 requests per
    # second to our API"). They share that token budget with alerts (delivery.global_rate_
    # per_second): the default takes under half, so a slip in 1,000 calendars does not hold
    # the alerts back.
    requests_per_second: float = Field(default=20.0, gt=0, le=50)

    # Upload a cover image (the item's LL2 image, else its thumbnail) with each event.
    covers: bool = True
    # Hosts cover images may be fetched from (https only; host or host:port). Env:
    # SPACECAST_CALENDAR__COVER_HOSTS as JSON.
    cover_hosts: list[str] = Field(default_factory=_default_cover_hosts)
    # Larger images are not used (the thumbnail is tried instead). Discord documents no limit
    # for image data; the bytes go out in every guild's request, so keep this small. The
    # bound stops a typo from asking for a body of hundreds of MiB per guild.
    cover_max_bytes: int = Field(default=1024 * 1024, gt=0, le=8 * 1024 * 1024)
    # The whole fetch of one image, redirects included: the calendar waits at most this long.
    # At most 10 s: a create checked 30 s ahead of its start must still reach Discord in time.
    cover_timeout_seconds: float = Field(default=5.0, gt=0, le=10)

    @field_validator("cover_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        from bot.core.schedule import cover_host

        hosts: list[str] = []
        for entry in value:
            host = cover_host(entry)
            if host is None:
                raise ValueError(
                    f"{entry!r} is not a host name (write host or host:port, without "
                    "https:// or a path)"
                )
            hosts.append(host)
        if not hosts:
            raise ValueError("must list at least one host (or set calendar.covers: false)")
        return hosts


class MetricsSettings(_Section):
    """Optional Prometheus endpoint."""

    listen: str | None = None


class HealthSettings(_Section):
    """Heartbeat file the running bot refreshes; ``python -m bot health`` reads it."""

    heartbeat_file: str = "spacecast.heartbeat"
    max_age_seconds: int = Field(default=300, gt=0)


class Settings(BaseSettings):
    """The whole configuration tree."""

    model_config = SettingsConfigDict(
        env_prefix="SPACECAST_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    ll2: LL2Settings = Field(default_factory=LL2Settings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    polling: PollingSettings = Field(default_factory=PollingSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    feed: FeedSettings = Field(default_factory=FeedSettings)
    calendar: CalendarJobSettings = Field(default_factory=CalendarJobSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML file arrives as init kwargs; the environment must win over it.
        return (env_settings, init_settings)


_FRIENDLY = {
    "extra_forbidden": "unknown key",
    "int_parsing": "must be an integer",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "literal_error": None,  # pydantic's own text lists the allowed values
    "missing": "is required",
    "model_type": "must be a mapping of keys",
    "list_type": "must be a list",
}


def _key_type(loc: tuple[int | str, ...]) -> type | None:
    """``int`` or ``float`` when ``loc`` (``section``, ``key``, ...) names a numeric setting."""
    if len(loc) < 2 or (section := Settings.model_fields.get(str(loc[0]))) is None:
        return None
    model = section.annotation
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None
    field = model.model_fields.get(str(loc[1]))
    return None if field is None else _number_type(field.annotation)


def _describe(error: dict[str, Any]) -> str:
    """Turn one pydantic error into ``key.path: message`` in words an operator understands."""
    loc = ".".join(str(part) for part in error["loc"]) or "(top level)"
    kind = error["type"]
    message = _FRIENDLY.get(kind)
    ctx = error.get("ctx") or {}
    if kind == "greater_than" and ctx.get("gt") == 0:
        # The key's type, not the value typed, decides: 0 for a float key is no integer problem.
        integer = _key_type(tuple(error["loc"])) is int
        message = "must be a positive integer" if integer else "must be a positive number"
    elif kind == "greater_than_equal" and ctx.get("ge") == 0:
        message = "must not be negative"
    if message is None:
        message = str(error["msg"]).removeprefix("Value error, ")
        message = message[0].lower() + message[1:] if message else message
    return f"{loc}: {message}"


def resolve_config_path(explicit: str | None) -> tuple[Path, bool]:
    """Return the config path to read and whether the operator asked for it by name."""
    if explicit:
        return Path(explicit), True
    from_env = os.environ.get(CONFIG_ENV_VAR)
    if from_env:
        return Path(from_env), True
    return DEFAULT_CONFIG_PATH, False


def load_settings(explicit_path: str | None = None) -> Settings:
    """Load and validate settings; raise :class:`ConfigError` with a one-line reason."""
    path, named = resolve_config_path(explicit_path)
    data: Any = {}
    if path.exists():
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            problem = getattr(exc, "problem", None) or "invalid YAML"
            raise ConfigError(f"{path}: unreadable YAML{where}: {problem}") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read file: {exc.strerror}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: (top level): must be a mapping of sections")
    elif named:
        raise ConfigError(f"{path}: file not found")
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        errors: list[dict[str, Any]] = [dict(error) for error in exc.errors()]
        first = errors[0]
        # One line: the first problem in full, the other keys by name (a key pydantic reports
        # several times, e.g. once per accepted type, counts once).
        others = list(dict.fromkeys(_key_name(e["loc"]) for e in errors))
        others.remove(_key_name(first["loc"]))
        more = f" (and {len(others)} more: {', '.join(others)})" if others else ""
        raise ConfigError(f"{_origin(path, first['loc'])}: {_describe(first)}{more}") from None
    # Checked here rather than in a model validator so code may still build any Settings
    # (the bot re-checks before starting discord.py); an operator's file or environment may not.
    if (problem := _shard_problem(settings.discord)) is not None:
        raise ConfigError(
            f"{_origin(path, ('discord', 'shard_ids'))}: discord.shard_ids: {problem}"
        )
    return settings


def _shard_problem(discord: DiscordSettings) -> str | None:
    """Why ``shard_ids`` cannot work with ``shard_count``, or None when they can (or are unset)."""
    count, ids = discord.shard_count, discord.shard_ids
    if ids is None:
        return None
    if count is None:
        return "needs discord.shard_count as well"
    if not ids or len(set(ids)) != len(ids) or any(not 0 <= i < count for i in ids):
        return f"must be distinct ids from 0 to {count - 1} (shard_count - 1)"
    return None


def _key_name(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc[:2]) or "(top level)"


def _env_name(loc: tuple[int | str, ...]) -> str:
    return "SPACECAST_" + "__".join(str(part) for part in loc[:2]).upper()


def _origin(path: Path, loc: tuple[int | str, ...]) -> str:
    # Name the environment variable when that, not the file, supplied the bad value.
    env_name = _env_name(loc)
    return f"environment {env_name}" if env_name in os.environ else str(path)


def environment_overrides() -> list[str]:
    """The setting keys (``ll2.requests_per_hour``) that ``SPACECAST_*`` variables set now."""
    # pydantic-settings' own environment source, so the answer matches what loading applies
    # (case, nesting, a whole section given as JSON), and SPACECAST_CONFIG is not counted.
    found = EnvSettingsSource(Settings)()
    keys: list[str] = []
    for section, value in found.items():
        if isinstance(value, dict):
            keys.extend(f"{section}.{key}" for key in value)
        else:
            keys.append(section)
    return keys


def masked_dump(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data, with every secret replaced by ``**********``."""
    dumped: dict[str, Any] = settings.model_dump(mode="json")
    for section, key in (("discord", "token"), ("ll2", "api_key")):
        value = getattr(getattr(settings, section), key)
        dumped[section][key] = None if value is None else "**********"
    return dumped
