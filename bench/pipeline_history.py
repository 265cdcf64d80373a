"""An installation's earlier conversations, put in the pipeline benchmarks' database before the load.

A fresh benchmark database starts empty, which no running installation is. Its tables then
grow from a few rows to thousands during the run, and PostgreSQL plans for the size they had
when a plan was made: once autovacuum has analyzed a table of one page, a connection's cached
plans on it (the foreign-key checks' among them) are sequential scans, and they stay so while
the table grows, until the next analyze. One `pipeline_cpu` run on an empty database scanned
`conversations` 19,805 times (43 million rows read) for 4,800 messages.

So the number the load writes to already has `CONVERSATIONS` earlier conversations, each with a
contact, its guard state, the person's message, the reply and its send, and every table is
analyzed before the services run a statement: the plans are the ones a running installation
gets. The rows are written by SQL (`generate_series`), in a few seconds.
"""

from __future__ import annotations

import uuid

import asyncpg

# Earlier conversations of the benchmark's number (about a week of a busy number's replies).
CONVERSATIONS = 20_000

_HISTORY = """
CREATE TEMPORARY TABLE history (
    n int, tenant_id uuid, instance_id uuid, instance_name text, contact_id uuid,
    conversation_id uuid, inbound_id uuid, outbound_id uuid, reply_id uuid, phone text, at timestamptz
) ON COMMIT DROP
"""

# The earlier people's numbers run from 5511000000001 up: never one the load generator writes
# from (5511900000000 up), so every message of the load is still a new person's.
_PLAN = """
INSERT INTO history
SELECT n, $1::uuid, $2::uuid, $3::text, gen_random_uuid(), gen_random_uuid(), gen_random_uuid(),
       gen_random_uuid(), gen_random_uuid(), '5511' || lpad(n::text, 9, '0'),
       now() - make_interval(secs => n * 30)
FROM generate_series(1, $4::int) AS n
"""

_SEED = """
INSERT INTO contacts (id, tenant_id, jid, phone, push_name, created_at, updated_at)
SELECT contact_id, tenant_id, phone || '@s.whatsapp.net', phone, 'Pessoa ' || n, at, at FROM history;

INSERT INTO conversations (id, tenant_id, instance_id, contact_id, chat_kind, created_at, last_message_at)
SELECT conversation_id, tenant_id, instance_id, contact_id, 'direct', at, at FROM history;

INSERT INTO conversation_guard_state (conversation_id, tenant_id, updated_at)
SELECT conversation_id, tenant_id, at FROM history;

INSERT INTO messages (id, tenant_id, instance_id, conversation_id, contact_id, provider_id, direction,
                      origin, source_event, chat_jid, sender_jid, message_type, category, text,
                      sent_at, received_at)
SELECT inbound_id, tenant_id, instance_id, conversation_id, contact_id, 'IN' || n, 'inbound', 'contact',
       'messages.upsert', phone || '@s.whatsapp.net', phone || '@s.whatsapp.net', 'conversation',
       'text', 'Oi, tudo bem?', at, at
FROM history
UNION ALL
SELECT outbound_id, tenant_id, instance_id, conversation_id, contact_id, 'OUT' || n, 'outbound', 'mirage',
       'send.message', phone || '@s.whatsapp.net', NULL, 'conversation', 'text',
       'Tudo ótimo! Como posso ajudar?', at + interval '2 seconds', at + interval '2 seconds'
FROM history;

INSERT INTO guard_decisions (message_id, tenant_id, conversation_id, decision, reason, decided_at)
SELECT inbound_id, tenant_id, conversation_id, 'reply', 'history', at FROM history;

INSERT INTO replies (id, tenant_id, request_event_id, kind, conversation_id, instance_id, text, parts,
                     model, created_at, message_ids)
SELECT reply_id, tenant_id, gen_random_uuid(), 'reply', conversation_id, instance_id,
       'Tudo ótimo! Como posso ajudar?', ARRAY['Tudo ótimo! Como posso ajudar?'], 'history', at,
       ARRAY[inbound_id]
FROM history;

INSERT INTO sends (send_id, tenant_id, instance_id, instance_name, conversation_id, contact_id, recipient,
                   recipient_digits, text, purpose, reply_id, status, attempts, provider_message_id,
                   sent_at, created_at, updated_at)
SELECT gen_random_uuid(), tenant_id, instance_id, instance_name, conversation_id, contact_id, phone, phone,
       'Tudo ótimo! Como posso ajudar?', 'reply', reply_id, 'sent', 1, 'OUT' || n,
       at + interval '2 seconds', at, at
FROM history;
"""


async def seed_history(
    dsn: str,
    *,
    tenant_id: uuid.UUID,
    instance_id: uuid.UUID,
    instance_name: str,
    conversations: int = CONVERSATIONS,
) -> None:
    """Write `conversations` earlier conversations of one number, then analyze every table."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute(_HISTORY)
            await conn.execute(_PLAN, tenant_id, instance_id, instance_name, conversations)
            await conn.execute(_SEED)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
