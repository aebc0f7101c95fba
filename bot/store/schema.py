"""The database schema: one SQLAlchemy Core :data:`metadata` for SQLite and PostgreSQL.

Conventions:

* Discord snowflakes are :class:`~sqlalchemy.BigInteger` (they exceed 2**31).
* Every timestamp is a :class:`UTCDateTime`: aware UTC datetimes in, aware UTC datetimes out,
  whatever the backend (SQLite keeps no zone and hands back naive values; this type is the one
  place that normalises them).
* JSON payloads are plain ``TEXT`` (``json`` on the way in and out), so both backends store and
  compare them identically; nothing queries inside them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so a later migration can refer to (and drop) them on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    Binding a naive datetime is a bug and raises :class:`ValueError`. SQLite stores the UTC wall
    time as text (so text order is time order); PostgreSQL stores ``timestamptz``. Values read
    back are always aware and in UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Check awareness and convert to UTC (naive UTC for SQLite, which has no zones)."""
        if value is None:
            return None
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            raise ValueError(f"naive datetime {value!r} given to the store; use aware UTC")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime whatever the driver handed back."""
        if value is None:
            return None
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)


snapshots = Table(
    "snapshots",
    metadata,
    Column("source", String(16), primary_key=True),
    Column("item_id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("date", UTCDateTime, nullable=True),
    Column("type_id", Integer, nullable=True),
    Column("provider_id", Integer, nullable=True),
    Column("data", Text, nullable=False),  # Snapshot.model_dump_json()
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Index("ix_snapshots_date", "date"),
)

change_log = Table(
    "change_log",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("source", String(16), nullable=False),
    Column("item_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("version", Text, nullable=False),
    Column("detected_at", UTCDateTime, nullable=False),
    Column("data", Text, nullable=False),  # Change.model_dump_json()
    UniqueConstraint("source", "item_id", "kind", "version", name="uq_change_log_identity"),
    Index("ix_change_log_detected_at", "detected_at"),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("guild_id", BigInteger, nullable=False),
    Column("channel_id", BigInteger, nullable=False),
    Column("sources", Text, nullable=False),  # JSON list of Source values
    Column("event_types", Text, nullable=True),  # JSON list of ints; NULL = all
    Column("providers", Text, nullable=True),  # JSON list of ints; NULL = all
    Column("kinds", Text, nullable=False),  # JSON list of ChangeKind values
    Column("role_id", BigInteger, nullable=True),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("disabled_reason", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # JSON list of reminder offsets in minutes, largest first; NULL = none. Schema version 3.
    Column("reminders", Text, nullable=True),
    # 'feed' (one message per alert) or 'card' (one message per item, edited); NULL = feed.
    # Schema version 4 (issue 16).
    Column("style", String(8), nullable=True),
    Index("ix_subscriptions_guild_id", "guild_id"),
    Index("ix_subscriptions_channel_id", "channel_id"),
)

outbox = Table(
    "outbox",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("dedup_key", Text, nullable=False, unique=True),
    Column("guild_id", BigInteger, nullable=False),
    Column("channel_id", BigInteger, nullable=False),
    Column(
        "subscription_id",
        Integer,
        ForeignKey("subscriptions.id", ondelete="SET NULL"),
        nullable=True,
    ),
    Column("item_ref", Text, nullable=False),  # Snapshot.ref, e.g. "event:1201"
    Column("kinds", Text, nullable=False),  # comma-separated ChangeKind values, sorted
    Column("payload", Text, nullable=False),  # JSON object
    Column("role_id", BigInteger, nullable=True),
    Column("status", String(16), nullable=False),  # pending | sent | failed | cancelled | expired
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    # Who holds the row's claim while it is being sent (a per-start process key; NULL = none).
    Column("claim_owner", BigInteger, nullable=True),
    # After this the row is no longer worth sending (NULL = never expires); schema version 2.
    Column("deadline", UTCDateTime, nullable=True),
    Column("message_id", BigInteger, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_outbox_guild_id", "guild_id"),
    Index("ix_outbox_channel_item", "channel_id", "item_ref"),
)

# Live cards (issue 16, schema version 4): one per (channel, item) a card subscription alerted
# about. ``state`` is the CardState JSON (item, history newest first, life cycle); the message
# columns say which Discord message shows it and up to which version.
cards = Table(
    "cards",
    metadata,
    Column("channel_id", BigInteger, primary_key=True, autoincrement=False),
    Column("source", String(16), primary_key=True),
    Column("item_id", String(64), primary_key=True),
    Column("guild_id", BigInteger, nullable=False),
    Column("state", Text, nullable=False),  # CardState.model_dump_json()
    Column("version", Integer, nullable=False),
    Column("generation", Integer, nullable=False),
    Column("frozen", Boolean, nullable=False),
    Column("final", Boolean, nullable=False),
    Column("message_id", BigInteger, nullable=True),  # NULL until posted (or after a 404)
    Column("message_generation", Integer, nullable=True),  # the generation message_id shows
    Column("sent_version", Integer, nullable=False),  # the version message_id last showed
    Column("posted_at", UTCDateTime, nullable=True),
    Column("reposts", Integer, nullable=False),  # fresh posts after 404/30046 (nonce salt)
    Column("deleted_reposts", Integer, nullable=False),  # of those, after a 404
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_cards_frozen", "frozen"),
)

poll_state = Table(
    "poll_state",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("value", Text, nullable=False),
)

request_log = Table(
    "request_log",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("sent_at", UTCDateTime, nullable=False),
    Index("ix_request_log_sent_at", "sent_at"),
)

event_types = Table(
    "event_types",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# The server calendar (schema version 4): a guild's opt-in, and the bot's scheduled events.
calendar_settings = Table(
    "calendar_settings",
    metadata,
    Column("guild_id", BigInteger, primary_key=True, autoincrement=False),
    Column("enabled", Boolean, nullable=False),
    Column("sources", Text, nullable=False),  # JSON list of Source values
    Column("event_types", Text, nullable=True),  # JSON list of ints; NULL = all
    Column("providers", Text, nullable=True),  # JSON list of ints; NULL = all
    Column("horizon_days", Integer, nullable=False),
    Column("max_events", Integer, nullable=False),
    Column("disabled_reason", Text, nullable=True),  # set when Discord refused (403)
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

calendar_events = Table(
    "calendar_events",
    metadata,
    Column("guild_id", BigInteger, primary_key=True, autoincrement=False),
    Column("item_ref", String(80), primary_key=True),  # Snapshot.ref, e.g. "launch:<uuid>"
    Column("event_id", BigInteger, nullable=False),  # Discord's scheduled-event id
    Column("status", Integer, nullable=False),  # Discord's status as last applied or read
    # The fields as Discord holds them (last applied): the planner diffs against these.
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("location", Text, nullable=False),
    Column("start_at", UTCDateTime, nullable=False),
    Column("end_at", UTCDateTime, nullable=False),
    # A date edit held by the quiet period: the new start, and when it was first seen.
    Column("pending_start", UTCDateTime, nullable=True),
    Column("pending_since", UTCDateTime, nullable=True),
    # The source URL of the cover image Discord shows (NULL: none); schema version 6. Discord
    # only returns an image hash, so this is how an unchanged LL2 image is never re-uploaded.
    Column("cover_url", Text, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_calendar_events_event_id", "event_id"),
)

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, nullable=False),
)
