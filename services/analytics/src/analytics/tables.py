"""The stats tables the writer maintains, and the one statement per table that applies a batch.

Counters (`*_hourly`) are added to: a batch's deltas for one row are summed first, so each
row appears once per statement. Facts (`inbound`, `replies`, `sends`, `opt_outs`) are merged:
a column keeps the first value any event gave it, so the events of one send (requested, sent,
failed) fill its row in whatever order they arrive, and a replay changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """How a table takes a batch."""

    COUNTER = "counter"
    FACT = "fact"


@dataclass(frozen=True)
class Table:
    """One table of the analytics schema: key columns, value columns, their PostgreSQL types."""

    name: str
    kind: Kind
    keys: tuple[tuple[str, str], ...]
    values: tuple[tuple[str, str], ...]
    # Columns a counter row gets when it is created and never changes (its tenant).
    attributes: tuple[tuple[str, str], ...] = ()

    @property
    def value_names(self) -> tuple[str, ...]:
        """The columns a batch adds to (counters) or fills in (facts)."""
        return tuple(name for name, _ in self.values)

    def upsert_sql(self, schema: str) -> str:
        """`INSERT … SELECT FROM unnest(…) ON CONFLICT …`: one parameter (an array) per column."""
        columns = (*self.keys, *self.attributes, *self.values)
        names = ", ".join(name for name, _ in columns)
        # An array column cannot be one column of a multi-array unnest: it travels as its
        # text form (`{a,b}`) and is cast back.
        arrays = ", ".join(
            f"${index}::{'text' if kind.endswith('[]') else kind}[]"
            for index, (_, kind) in enumerate(columns, start=1)
        )
        selected = ", ".join(
            f"x.{name}::{kind}" if kind.endswith("[]") else f"x.{name}" for name, kind in columns
        )
        key_names = ", ".join(name for name, _ in self.keys)
        if self.kind is Kind.COUNTER:
            updates = ", ".join(f"{name} = t.{name} + excluded.{name}" for name, _ in self.values)
        else:
            updates = ", ".join(f"{name} = coalesce(t.{name}, excluded.{name})" for name, _ in self.values)
        # Rows in key order: two writers touching the same rows lock them in the same order.
        order = ", ".join(str(position) for position in range(1, len(self.keys) + 1))
        return (
            f"INSERT INTO {schema}.{self.name} AS t ({names})"  # noqa: S608 - names are constants
            f" SELECT {selected} FROM unnest({arrays}) AS x({names}) ORDER BY {order}"
            f" ON CONFLICT ({key_names}) DO UPDATE SET {updates}"
        )


TENANT_HOURLY = Table(
    "tenant_hourly",
    Kind.COUNTER,
    keys=(("tenant_id", "uuid"), ("hour", "timestamptz")),
    values=(("sent", "int"), ("received", "int"), ("failed", "int")),
)
NUMBER_HOURLY = Table(
    "number_hourly",
    Kind.COUNTER,
    keys=(("instance_id", "uuid"), ("hour", "timestamptz")),
    attributes=(("tenant_id", "uuid"),),
    values=(
        ("sent", "int"),
        ("received", "int"),
        ("outreach_sent", "int"),
        ("opt_outs", "int"),
        ("failed", "int"),
    ),
)
NUMBER_FAILURES_HOURLY = Table(
    "number_failures_hourly",
    Kind.COUNTER,
    keys=(("instance_id", "uuid"), ("hour", "timestamptz"), ("failure_code", "text")),
    attributes=(("tenant_id", "uuid"),),
    values=(("failed", "int"),),
)
PAIR_HOURLY = Table(
    "pair_hourly",
    Kind.COUNTER,
    keys=(("pair_id", "uuid"), ("hour", "timestamptz")),
    attributes=(("tenant_id", "uuid"),),
    values=(
        ("rounds_started", "int"),
        ("rounds_completed", "int"),
        ("rounds_ended", "int"),
        ("completed_duration_ms", "bigint"),
        ("messages", "int"),
        ("deaf_rounds", "int"),
    ),
)
PERSONA_HOURLY = Table(
    "persona_hourly",
    Kind.COUNTER,
    keys=(("tenant_id", "uuid"), ("persona_id", "uuid"), ("hour", "timestamptz")),
    values=(
        ("replies", "int"),
        ("prompt_tokens", "bigint"),
        ("completion_tokens", "bigint"),
        ("cost_micro_usd", "bigint"),
    ),
)
INBOUND = Table(
    "inbound",
    Kind.FACT,
    keys=(("message_id", "uuid"),),
    values=(
        ("tenant_id", "uuid"),
        ("instance_id", "uuid"),
        ("conversation_id", "uuid"),
        ("contact_id", "uuid"),
        ("sender", "text"),
        ("written_at", "timestamptz"),
    ),
)
REPLIES = Table(
    "replies",
    Kind.FACT,
    keys=(("reply_id", "uuid"),),
    values=(
        ("tenant_id", "uuid"),
        ("conversation_id", "uuid"),
        ("instance_id", "uuid"),
        ("persona_id", "uuid"),
        ("kind", "text"),
        ("burst", "uuid[]"),
        ("generated_at", "timestamptz"),
    ),
)
SENDS = Table(
    "sends",
    Kind.FACT,
    keys=(("send_id", "uuid"),),
    values=(
        ("tenant_id", "uuid"),
        ("instance_id", "uuid"),
        ("conversation_id", "uuid"),
        ("recipient", "text"),
        ("purpose", "text"),
        ("campaign_id", "uuid"),
        ("reply_id", "uuid"),
        ("part_index", "int"),
        ("requested_at", "timestamptz"),
        ("sent_at", "timestamptz"),
        ("failed_at", "timestamptz"),
        ("failure_code", "text"),
    ),
)
OPT_OUTS = Table(
    "opt_outs",
    Kind.FACT,
    keys=(("event_id", "uuid"),),
    values=(
        ("tenant_id", "uuid"),
        ("contact_id", "uuid"),
        ("conversation_id", "uuid"),
        ("instance_id", "uuid"),
        ("phone", "text"),
        ("opted_out_at", "timestamptz"),
    ),
)

TABLES: tuple[Table, ...] = (
    TENANT_HOURLY,
    NUMBER_HOURLY,
    NUMBER_FAILURES_HOURLY,
    PAIR_HOURLY,
    PERSONA_HOURLY,
    INBOUND,
    REPLIES,
    SENDS,
    OPT_OUTS,
)
"""Every table the writer maintains, in the order a batch applies them."""

# The materialized views, in refresh order (none reads another).
VIEWS: tuple[str, ...] = (
    "response_times",
    "tenant_hourly_stats",
    "number_daily_stats",
    "pair_daily_stats",
    "campaign_stats",
    "persona_stats",
)
