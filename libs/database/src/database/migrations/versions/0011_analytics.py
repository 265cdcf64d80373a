"""Statistics (analytics tables) and admin alerts on WhatsApp (api columns).

- Schema `analytics` (writer: analytics, every table and view in it). Counters per UTC hour
  (`*_hourly`), kept from events and claimed by event id (`processed_events`); facts the
  joins need (`inbound`, `replies`, `sends`, `opt_outs`), one row per message, reply, send or
  opt-out, merged idempotently whatever order their events arrive in; materialized views
  over both, in each tenant's time zone, refreshed `CONCURRENTLY` (each has a unique index
  on plain columns). `mirage-analytics rebuild` clones this schema from the catalog, so
  whatever is added here is rebuilt too.
- `admin_alerts` (api) records the WhatsApp copy of each alert: the `send.requested` it
  staged to the tenant's `admin_phone`, or why it did not.
- `guard_decisions` (guard) keeps the W3C `traceparent` of each message's processing: the
  reply to a debounced burst is requested later, outside that span, and continues its trace.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from database.migrations.sql_script import execute_script

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    CREATE SCHEMA analytics;
    COMMENT ON SCHEMA analytics IS 'writer: analytics (every table and materialized view in it)';

    -- The events whose counters are applied: a redelivered event is not counted twice.
    CREATE TABLE analytics.processed_events (
        event_id uuid PRIMARY KEY,
        topic text NOT NULL,
        processed_at timestamptz NOT NULL DEFAULT now()
    );

    -- Counters, per UTC hour (views roll them up in the tenant's time zone).
    CREATE TABLE analytics.tenant_hourly (
        tenant_id uuid NOT NULL,
        hour timestamptz NOT NULL,
        sent integer NOT NULL DEFAULT 0,
        received integer NOT NULL DEFAULT 0,
        failed integer NOT NULL DEFAULT 0,
        PRIMARY KEY (tenant_id, hour)
    );
    CREATE TABLE analytics.number_hourly (
        tenant_id uuid NOT NULL,
        instance_id uuid NOT NULL,
        hour timestamptz NOT NULL,
        sent integer NOT NULL DEFAULT 0,
        received integer NOT NULL DEFAULT 0,
        outreach_sent integer NOT NULL DEFAULT 0,
        opt_outs integer NOT NULL DEFAULT 0,
        failed integer NOT NULL DEFAULT 0,
        PRIMARY KEY (instance_id, hour)
    );
    CREATE TABLE analytics.number_failures_hourly (
        tenant_id uuid NOT NULL,
        instance_id uuid NOT NULL,
        hour timestamptz NOT NULL,
        failure_code text NOT NULL,
        failed integer NOT NULL DEFAULT 0,
        PRIMARY KEY (instance_id, hour, failure_code)
    );
    CREATE TABLE analytics.pair_hourly (
        tenant_id uuid NOT NULL,
        pair_id uuid NOT NULL,
        hour timestamptz NOT NULL,
        rounds_started integer NOT NULL DEFAULT 0,
        rounds_completed integer NOT NULL DEFAULT 0,
        rounds_ended integer NOT NULL DEFAULT 0,
        completed_duration_ms bigint NOT NULL DEFAULT 0,
        messages integer NOT NULL DEFAULT 0,
        deaf_rounds integer NOT NULL DEFAULT 0,
        PRIMARY KEY (pair_id, hour)
    );
    -- persona_id 00000000-0000-0000-0000-000000000000: the built-in default persona.
    CREATE TABLE analytics.persona_hourly (
        tenant_id uuid NOT NULL,
        persona_id uuid NOT NULL,
        hour timestamptz NOT NULL,
        replies integer NOT NULL DEFAULT 0,
        prompt_tokens bigint NOT NULL DEFAULT 0,
        completion_tokens bigint NOT NULL DEFAULT 0,
        cost_micro_usd bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (tenant_id, persona_id, hour)
    );

    -- Facts the views join (phone numbers as canonical digits: Brazilian mobiles with the 9).
    CREATE TABLE analytics.inbound (
        message_id uuid PRIMARY KEY,
        tenant_id uuid NOT NULL,
        instance_id uuid NOT NULL,
        conversation_id uuid NOT NULL,
        contact_id uuid NOT NULL,
        sender text NOT NULL,
        written_at timestamptz NOT NULL
    );
    CREATE INDEX inbound_conversation ON analytics.inbound (conversation_id, written_at);
    CREATE INDEX inbound_sender ON analytics.inbound (instance_id, sender, written_at);
    CREATE TABLE analytics.replies (
        reply_id uuid PRIMARY KEY,
        tenant_id uuid NOT NULL,
        conversation_id uuid,
        instance_id uuid NOT NULL,
        persona_id uuid NOT NULL,
        kind text NOT NULL,
        burst uuid[] NOT NULL,
        generated_at timestamptz NOT NULL
    );
    CREATE INDEX replies_persona ON analytics.replies (tenant_id, persona_id);
    CREATE TABLE analytics.sends (
        send_id uuid PRIMARY KEY,
        tenant_id uuid NOT NULL,
        instance_id uuid NOT NULL,
        conversation_id uuid,
        recipient text,
        purpose text,
        campaign_id uuid,
        reply_id uuid,
        part_index integer,
        requested_at timestamptz,
        sent_at timestamptz,
        failed_at timestamptz,
        failure_code text
    );
    CREATE INDEX sends_reply ON analytics.sends (reply_id);
    CREATE INDEX sends_campaign ON analytics.sends (campaign_id);
    CREATE TABLE analytics.opt_outs (
        event_id uuid PRIMARY KEY,
        tenant_id uuid NOT NULL,
        contact_id uuid NOT NULL,
        conversation_id uuid,
        instance_id uuid,
        phone text,
        opted_out_at timestamptz NOT NULL
    );
    CREATE INDEX opt_outs_phone ON analytics.opt_outs (tenant_id, phone);
    CREATE INDEX opt_outs_conversation ON analytics.opt_outs (conversation_id);

    -- One row per answered burst: from the burst's first message to the first part sent.
    CREATE VIEW analytics.responses AS
    SELECT s.send_id, s.tenant_id, s.instance_id, r.persona_id, r.conversation_id, s.sent_at,
           greatest(0, round(extract(epoch FROM s.sent_at - min(i.written_at)) * 1000))::bigint
               AS response_ms
    FROM analytics.sends s
    JOIN analytics.replies r ON r.reply_id = s.reply_id
    CROSS JOIN LATERAL unnest(r.burst) AS b(message_id)
    JOIN analytics.inbound i ON i.message_id = b.message_id
    WHERE s.part_index = 0 AND s.sent_at IS NOT NULL AND s.purpose = 'reply'
    GROUP BY s.send_id, s.tenant_id, s.instance_id, r.persona_id, r.conversation_id, s.sent_at;

    CREATE MATERIALIZED VIEW analytics.response_times AS
    SELECT send_id, tenant_id, instance_id, persona_id, conversation_id, sent_at, response_ms
    FROM analytics.responses;
    CREATE UNIQUE INDEX response_times_key ON analytics.response_times (send_id);
    CREATE INDEX response_times_tenant ON analytics.response_times (tenant_id, sent_at);

    CREATE MATERIALIZED VIEW analytics.tenant_hourly_stats AS
    WITH response_hours AS (
        SELECT tenant_id, date_trunc('hour', sent_at, 'UTC') AS hour, count(*) AS responses,
               avg(response_ms) AS avg_ms,
               percentile_cont(0.9) WITHIN GROUP (ORDER BY response_ms) AS p90_ms
        FROM analytics.responses GROUP BY 1, 2
    )
    SELECT coalesce(c.tenant_id, r.tenant_id) AS tenant_id, coalesce(c.hour, r.hour) AS hour,
           coalesce(c.sent, 0) AS sent, coalesce(c.received, 0) AS received,
           coalesce(c.failed, 0) AS failed, coalesce(r.responses, 0)::integer AS responses,
           round(r.avg_ms)::bigint AS avg_response_ms, round(r.p90_ms)::bigint AS p90_response_ms
    FROM analytics.tenant_hourly c
    FULL JOIN response_hours r ON r.tenant_id = c.tenant_id AND r.hour = c.hour;
    CREATE UNIQUE INDEX tenant_hourly_stats_key ON analytics.tenant_hourly_stats (tenant_id, hour);

    CREATE MATERIALIZED VIEW analytics.number_daily_stats AS
    WITH zones AS (SELECT id AS tenant_id, time_zone FROM public.tenants),
    counters AS (
        SELECT n.tenant_id, n.instance_id, (n.hour AT TIME ZONE z.time_zone)::date AS day,
               sum(n.sent)::integer AS sent, sum(n.received)::integer AS received,
               sum(n.outreach_sent)::integer AS outreach_sent, sum(n.opt_outs)::integer AS opt_outs,
               sum(n.failed)::integer AS failed
        FROM analytics.number_hourly n JOIN zones z USING (tenant_id) GROUP BY 1, 2, 3
    ),
    failures AS (
        SELECT tenant_id, instance_id, day, jsonb_object_agg(failure_code, failed) AS failures_by_code
        FROM (
            SELECT f.tenant_id, f.instance_id, (f.hour AT TIME ZONE z.time_zone)::date AS day,
                   f.failure_code, sum(f.failed)::integer AS failed
            FROM analytics.number_failures_hourly f JOIN zones z USING (tenant_id) GROUP BY 1, 2, 3, 4
        ) by_code GROUP BY 1, 2, 3
    ),
    active AS (
        SELECT tenant_id, instance_id, day, count(DISTINCT conversation_id)::integer AS active_conversations
        FROM (
            SELECT i.tenant_id, i.instance_id, i.conversation_id,
                   (i.written_at AT TIME ZONE z.time_zone)::date AS day
            FROM analytics.inbound i JOIN zones z USING (tenant_id)
            UNION ALL
            SELECT s.tenant_id, s.instance_id, s.conversation_id,
                   (s.sent_at AT TIME ZONE z.time_zone)::date AS day
            FROM analytics.sends s JOIN zones z USING (tenant_id)
            WHERE s.conversation_id IS NOT NULL AND s.sent_at IS NOT NULL
        ) touched GROUP BY 1, 2, 3
    ),
    days AS (
        SELECT tenant_id, instance_id, day FROM counters
        UNION SELECT tenant_id, instance_id, day FROM active
    )
    SELECT d.tenant_id, d.instance_id, d.day,
           coalesce(c.sent, 0) AS sent, coalesce(c.received, 0) AS received,
           coalesce(a.active_conversations, 0) AS active_conversations,
           coalesce(c.outreach_sent, 0) AS outreach_sent, coalesce(c.opt_outs, 0) AS opt_outs,
           coalesce(c.failed, 0) AS failed, coalesce(f.failures_by_code, '{}'::jsonb) AS failures_by_code
    FROM days d
    LEFT JOIN counters c USING (tenant_id, instance_id, day)
    LEFT JOIN failures f USING (tenant_id, instance_id, day)
    LEFT JOIN active a USING (tenant_id, instance_id, day);
    CREATE UNIQUE INDEX number_daily_stats_key ON analytics.number_daily_stats (instance_id, day);
    CREATE INDEX number_daily_stats_tenant ON analytics.number_daily_stats (tenant_id, day);

    CREATE MATERIALIZED VIEW analytics.pair_daily_stats AS
    SELECT p.tenant_id, p.pair_id, (p.hour AT TIME ZONE t.time_zone)::date AS day,
           sum(p.rounds_started)::integer AS rounds_started,
           sum(p.rounds_completed)::integer AS rounds_completed,
           sum(p.rounds_ended)::integer AS rounds_ended,
           CASE WHEN sum(p.rounds_completed) > 0
                THEN round(sum(p.completed_duration_ms)::numeric / sum(p.rounds_completed))::bigint
           END AS avg_round_duration_ms,
           sum(p.messages)::integer AS messages, sum(p.deaf_rounds)::integer AS deaf_rounds
    FROM analytics.pair_hourly p JOIN public.tenants t ON t.id = p.tenant_id
    GROUP BY 1, 2, 3;
    CREATE UNIQUE INDEX pair_daily_stats_key ON analytics.pair_daily_stats (pair_id, day);

    CREATE MATERIALIZED VIEW analytics.campaign_stats AS
    WITH targets AS (
        SELECT tenant_id, campaign_id, instance_id, recipient, min(sent_at) AS first_sent_at,
               bool_or(failed_at IS NOT NULL) AND NOT bool_or(sent_at IS NOT NULL) AS failed
        FROM analytics.sends WHERE campaign_id IS NOT NULL GROUP BY 1, 2, 3, 4
    )
    SELECT t.tenant_id, t.campaign_id,
           count(*) FILTER (WHERE t.first_sent_at IS NOT NULL)::integer AS sent,
           count(*) FILTER (WHERE t.failed)::integer AS failed,
           count(*) FILTER (WHERE EXISTS (
               SELECT 1 FROM analytics.inbound i
               WHERE i.instance_id = t.instance_id AND i.sender = t.recipient
                 AND i.written_at >= t.first_sent_at AND i.written_at < t.first_sent_at + interval '24 hours'
           ))::integer AS replies_24h,
           count(*) FILTER (WHERE EXISTS (
               SELECT 1 FROM analytics.opt_outs o
               WHERE o.tenant_id = t.tenant_id AND o.phone = t.recipient AND o.opted_out_at >= t.first_sent_at
           ))::integer AS opt_outs
    FROM targets t GROUP BY 1, 2;
    CREATE UNIQUE INDEX campaign_stats_key ON analytics.campaign_stats (campaign_id);

    CREATE MATERIALIZED VIEW analytics.persona_stats AS
    WITH answered AS (
        SELECT r.tenant_id, r.persona_id, r.conversation_id, min(s.sent_at) AS first_reply_at
        FROM analytics.replies r JOIN analytics.sends s ON s.reply_id = r.reply_id
        WHERE r.conversation_id IS NOT NULL AND r.kind IN ('reply', 'fallback') AND s.sent_at IS NOT NULL
        GROUP BY 1, 2, 3
    ),
    conversations AS (
        SELECT a.tenant_id, a.persona_id,
               EXISTS (SELECT 1 FROM analytics.inbound i
                       WHERE i.conversation_id = a.conversation_id AND i.written_at > a.first_reply_at)
                   AS wrote_back,
               EXISTS (SELECT 1 FROM analytics.opt_outs o
                       WHERE o.conversation_id = a.conversation_id AND o.opted_out_at >= a.first_reply_at)
                   AS opted_out
        FROM answered a
    ),
    by_persona AS (
        SELECT tenant_id, persona_id, count(*)::integer AS conversations,
               count(*) FILTER (WHERE wrote_back)::integer AS conversations_replied,
               count(*) FILTER (WHERE opted_out)::integer AS conversations_opted_out
        FROM conversations GROUP BY 1, 2
    ),
    first_responses AS (
        SELECT tenant_id, persona_id, round(avg(response_ms))::bigint AS avg_first_response_ms
        FROM (
            SELECT DISTINCT ON (conversation_id, persona_id) tenant_id, persona_id, response_ms
            FROM analytics.responses ORDER BY conversation_id, persona_id, sent_at
        ) firsts GROUP BY 1, 2
    ),
    usage AS (
        SELECT tenant_id, persona_id, sum(replies)::integer AS replies,
               sum(prompt_tokens)::bigint AS prompt_tokens, sum(completion_tokens)::bigint AS completion_tokens,
               sum(cost_micro_usd)::bigint AS cost_micro_usd
        FROM analytics.persona_hourly GROUP BY 1, 2
    ),
    personas AS (
        SELECT tenant_id, persona_id FROM by_persona UNION SELECT tenant_id, persona_id FROM usage
    )
    SELECT p.tenant_id, p.persona_id,
           coalesce(b.conversations, 0) AS conversations,
           coalesce(b.conversations_replied, 0) AS conversations_replied,
           coalesce(b.conversations_opted_out, 0) AS conversations_opted_out,
           f.avg_first_response_ms,
           coalesce(u.replies, 0) AS replies,
           coalesce(u.prompt_tokens, 0) AS prompt_tokens,
           coalesce(u.completion_tokens, 0) AS completion_tokens,
           coalesce(u.cost_micro_usd, 0) AS cost_micro_usd
    FROM personas p
    LEFT JOIN by_persona b USING (tenant_id, persona_id)
    LEFT JOIN first_responses f USING (tenant_id, persona_id)
    LEFT JOIN usage u USING (tenant_id, persona_id);
    CREATE UNIQUE INDEX persona_stats_key ON analytics.persona_stats (tenant_id, persona_id);

    -- When the views were last refreshed (the api shows it; the refresh bumps the cache generation).
    CREATE TABLE analytics.refreshes (
        id boolean PRIMARY KEY DEFAULT true CHECK (id),
        refreshed_at timestamptz NOT NULL,
        duration_ms integer NOT NULL
    );

    ALTER TABLE admin_alerts
        ADD COLUMN whatsapp_state text CHECK (whatsapp_state IN (
            'staged', 'suppressed', 'not_configured', 'no_instance'
        )),
        ADD COLUMN whatsapp_send_id uuid,
        ADD COLUMN whatsapp_staged_at timestamptz;
    ALTER TABLE guard_decisions ADD COLUMN trace_parent text;

    CREATE INDEX admin_alerts_whatsapp ON admin_alerts (tenant_id, alert_key, whatsapp_staged_at)
        WHERE whatsapp_state = 'staged';
    COMMENT ON COLUMN admin_alerts.whatsapp_state IS
        'api: staged: a send.requested (purpose admin_alert) to tenants.admin_phone was staged; suppressed: another row of the key was sent within the cool-down; not_configured: no admin_phone; no_instance: no connected instance to send through';
    """)


def downgrade() -> None:
    execute_script("""
    DROP INDEX IF EXISTS admin_alerts_whatsapp;
    ALTER TABLE guard_decisions DROP COLUMN IF EXISTS trace_parent;
    ALTER TABLE admin_alerts
        DROP COLUMN IF EXISTS whatsapp_staged_at,
        DROP COLUMN IF EXISTS whatsapp_send_id,
        DROP COLUMN IF EXISTS whatsapp_state;
    DROP SCHEMA IF EXISTS analytics CASCADE;
    """)
