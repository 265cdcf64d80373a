"""Initial schema: every entity of PRODUCT §0–§9.

Each table has exactly one writing service (PRODUCT §9b), named in its comment.
The exception is `instances.state`, changed by ingest and api only through the
instance state machine (`instance_lifecycle`), and the `outbox` and
`processed_events` tables, where each service writes only the rows that carry
its own producer or consumer name.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from database.migrations.sql_script import execute_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

INSTANCE_STATES = "'creating','open','expired','connecting','connected','disconnected','closed','removed'"


def upgrade() -> None:
    execute_script(f"""
    -- api: tenants and their API keys (stored as SHA-256 of a high-entropy key).
    CREATE TABLE tenants (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        slug text NOT NULL UNIQUE,
        name text NOT NULL,
        time_zone text NOT NULL DEFAULT 'America/Sao_Paulo',
        daily_quota integer NOT NULL DEFAULT 1000 CHECK (daily_quota >= 0),
        hourly_quota integer NOT NULL DEFAULT 200 CHECK (hourly_quota >= 0),
        number_daily_quota integer NOT NULL DEFAULT 200 CHECK (number_daily_quota >= 0),
        opt_out_keywords text[] NOT NULL DEFAULT ARRAY['PARE','STOP','SAIR','CANCELAR','DESCADASTRAR','REMOVER','UNSUBSCRIBE'],
        opt_in_keywords text[] NOT NULL DEFAULT ARRAY['VOLTAR','START','INICIAR'],
        alert_webhook_url text,
        admin_phone text,
        alert_cooldown_s integer NOT NULL DEFAULT 900 CHECK (alert_cooldown_s >= 0),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    COMMENT ON TABLE tenants IS 'writer: api';

    CREATE TABLE api_keys (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        name text NOT NULL DEFAULT 'default',
        prefix text NOT NULL,
        key_hash text NOT NULL UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz,
        revoked_at timestamptz
    );
    CREATE INDEX api_keys_tenant ON api_keys (tenant_id);
    COMMENT ON TABLE api_keys IS 'writer: api';

    -- api: personas.
    CREATE TABLE personas (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        name text NOT NULL,
        system_prompt text NOT NULL,
        language text NOT NULL DEFAULT 'pt-BR',
        max_length integer NOT NULL DEFAULT 600 CHECK (max_length BETWEEN 20 AND 4000),
        emoji boolean NOT NULL DEFAULT true,
        temperature real NOT NULL DEFAULT 0.7 CHECK (temperature >= 0 AND temperature <= 2),
        model text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (tenant_id, name)
    );
    COMMENT ON TABLE personas IS 'writer: api';

    -- api (creation, settings) and api+ingest through the state machine (state columns).
    CREATE TABLE instances (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        name text NOT NULL UNIQUE,
        integration text NOT NULL DEFAULT 'WHATSAPP-BAILEYS',
        evolution_instance_id text,
        token text,
        webhook_auth text NOT NULL DEFAULT 'jwt' CHECK (webhook_auth IN ('jwt','header','hmac','none')),
        webhook_secret text NOT NULL,
        state text NOT NULL DEFAULT 'creating' CHECK (state IN ({INSTANCE_STATES})),
        state_reason text,
        state_changed_at timestamptz NOT NULL DEFAULT now(),
        sending_stopped boolean NOT NULL DEFAULT false,
        qr_code text,
        qr_base64 text,
        pairing_code text,
        qr_expires_at timestamptz,
        owner_jid text,
        profile_name text,
        persona_id uuid REFERENCES personas(id) ON DELETE SET NULL,
        reply_to_groups boolean NOT NULL DEFAULT false,
        reply_to_broadcasts boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX instances_tenant ON instances (tenant_id);
    COMMENT ON TABLE instances IS 'writer: api; state columns: api and ingest through instance_lifecycle only';

    CREATE TABLE instance_transitions (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        instance_id uuid NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
        tenant_id uuid NOT NULL,
        previous text CHECK (previous IN ({INSTANCE_STATES})),
        current text NOT NULL CHECK (current IN ({INSTANCE_STATES})),
        trigger text NOT NULL,
        reason text,
        applied boolean NOT NULL,
        occurred_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX instance_transitions_instance ON instance_transitions (instance_id, id);
    COMMENT ON TABLE instance_transitions IS 'writer: instance_lifecycle (api, ingest): every transition tried, applied or refused';

    -- ingest: contacts, known by a non-@lid JID (phone, group, broadcast) and/or an @lid JID.
    CREATE TABLE contacts (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        jid text,
        lid text,
        phone text,
        push_name text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CHECK (jid IS NOT NULL OR lid IS NOT NULL),
        UNIQUE (tenant_id, jid),
        UNIQUE (tenant_id, lid)
    );
    CREATE INDEX contacts_phone ON contacts (tenant_id, phone);
    COMMENT ON TABLE contacts IS 'writer: ingest';

    CREATE TABLE conversations (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        instance_id uuid NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
        contact_id uuid NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
        chat_kind text NOT NULL CHECK (chat_kind IN ('direct','group','broadcast','newsletter')),
        created_at timestamptz NOT NULL DEFAULT now(),
        last_message_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (instance_id, contact_id)
    );
    CREATE INDEX conversations_tenant ON conversations (tenant_id, last_message_at DESC);
    COMMENT ON TABLE conversations IS 'writer: ingest';

    -- ingest: every raw webhook call, stored before anything else is done with it.
    CREATE TABLE raw_events (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        received_at timestamptz NOT NULL DEFAULT now(),
        path text NOT NULL,
        instance_name text,
        instance_id uuid,
        tenant_id uuid,
        event text,
        auth_result text NOT NULL,
        parse_result text NOT NULL,
        http_status smallint NOT NULL,
        error text,
        body_size integer NOT NULL,
        payload jsonb,
        body_text text
    );
    CREATE INDEX raw_events_received ON raw_events (received_at);
    CREATE INDEX raw_events_rejected ON raw_events (received_at) WHERE http_status >= 400;
    COMMENT ON TABLE raw_events IS 'writer: ingest';

    -- ingest: every WhatsApp message seen through webhooks (inbound, operator typed, Mirage echoes).
    -- Hot table: only the conversation is a foreign key (it cascades from its tenant,
    -- instance and contact); more would cost a lookup per inserted message.
    CREATE TABLE messages (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL,
        instance_id uuid NOT NULL,
        conversation_id uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        contact_id uuid NOT NULL,
        provider_id text NOT NULL,
        direction text NOT NULL CHECK (direction IN ('inbound','outbound')),
        origin text NOT NULL CHECK (origin IN ('contact','operator','mirage','unknown')),
        source_event text NOT NULL,
        chat_jid text NOT NULL,
        sender_jid text,
        push_name text,
        message_type text,
        category text NOT NULL,
        text text,
        sent_at timestamptz NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        fresh boolean NOT NULL DEFAULT true,
        edited_at timestamptz,
        revoked_at timestamptz,
        delivery_status text,
        status_updated_at timestamptz,
        app_origin text,
        script_id text,
        raw_event_id bigint,
        UNIQUE (instance_id, provider_id)
    );
    CREATE INDEX messages_conversation ON messages (conversation_id, sent_at DESC);
    COMMENT ON TABLE messages IS 'writer: ingest';

    -- guard: the decision on every message it consumed, with its reason.
    CREATE TABLE guard_decisions (
        message_id uuid PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
        tenant_id uuid NOT NULL,
        conversation_id uuid NOT NULL,
        decision text NOT NULL,
        reason text NOT NULL,
        reply_request_id uuid,
        decided_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX guard_decisions_conversation ON guard_decisions (conversation_id, decided_at);
    COMMENT ON TABLE guard_decisions IS 'writer: guard';

    CREATE TABLE conversation_guard_state (
        conversation_id uuid PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
        tenant_id uuid NOT NULL,
        paused_at timestamptz,
        paused_until timestamptz,
        pause_reason text,
        blocked_at timestamptz,
        block_reason text,
        last_script_id text,
        loop_count integer NOT NULL DEFAULT 0,
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    COMMENT ON TABLE conversation_guard_state IS 'writer: guard';

    -- api: an operator's overrides, read by the guard.
    CREATE TABLE conversation_controls (
        conversation_id uuid PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
        tenant_id uuid NOT NULL,
        bot_paused boolean NOT NULL DEFAULT false,
        resumed_at timestamptz,
        unblocked_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    COMMENT ON TABLE conversation_controls IS 'writer: api';

    -- guard: consent ledger (every change) and the current opt-outs.
    CREATE TABLE consent_events (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        contact_id uuid NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
        action text NOT NULL CHECK (action IN ('opt_out','opt_in')),
        keyword text,
        source text NOT NULL,
        message_id uuid,
        occurred_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX consent_events_contact ON consent_events (contact_id, id);
    COMMENT ON TABLE consent_events IS 'writer: guard';

    CREATE TABLE opt_outs (
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        contact_id uuid NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
        phone text,
        jid text,
        keyword text,
        source text NOT NULL,
        opted_out_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, contact_id)
    );
    CREATE INDEX opt_outs_phone ON opt_outs (tenant_id, phone);
    COMMENT ON TABLE opt_outs IS 'writer: guard';

    -- api: the operator's manual blacklist (never lifted by a re-opt-in keyword).
    CREATE TABLE blacklist (
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        phone text NOT NULL,
        reason text,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, phone)
    );
    COMMENT ON TABLE blacklist IS 'writer: api';

    -- generator: replies and warm-up turns it wrote, one per request.
    -- Hot table: no foreign keys (a lookup per reply).
    CREATE TABLE replies (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL,
        request_event_id uuid NOT NULL UNIQUE,
        kind text NOT NULL CHECK (kind IN ('reply','warmup_turn','fallback')),
        conversation_id uuid,
        instance_id uuid NOT NULL,
        persona_id uuid,
        text text NOT NULL,
        parts text[] NOT NULL,
        model text NOT NULL,
        offline boolean NOT NULL DEFAULT false,
        latency_ms integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX replies_conversation ON replies (conversation_id, created_at);
    COMMENT ON TABLE replies IS 'writer: generator';

    -- sender: one row per send id; the own-id registry is provider_message_id.
    -- Hot table: no foreign keys (each would cost a lookup per send).
    CREATE TABLE sends (
        send_id uuid PRIMARY KEY,
        tenant_id uuid NOT NULL,
        instance_id uuid NOT NULL,
        instance_name text NOT NULL,
        conversation_id uuid,
        contact_id uuid,
        recipient text NOT NULL,
        recipient_digits text NOT NULL,
        text text NOT NULL,
        purpose text NOT NULL,
        app_origin text,
        script_id text,
        reply_id uuid,
        part_index integer NOT NULL DEFAULT 0,
        campaign_id uuid,
        target_id uuid,
        round_id uuid,
        status text NOT NULL CHECK (status IN ('sending','sent','failed','ambiguous','refused')),
        in_flight boolean NOT NULL DEFAULT false,
        attempts integer NOT NULL DEFAULT 0,
        provider_message_id text,
        last_error text,
        last_status_code integer,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        sent_at timestamptz,
        UNIQUE (instance_id, provider_message_id)
    );
    CREATE INDEX sends_recent_by_recipient ON sends (instance_id, recipient_digits, created_at DESC);
    CREATE INDEX sends_conversation ON sends (conversation_id, created_at);
    COMMENT ON TABLE sends IS 'writer: sender';

    -- api: warm-up pairs; scheduler: rounds and why a pair was skipped.
    CREATE TABLE warmup_pairs (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        name text NOT NULL,
        instance_a_id uuid NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
        instance_b_id uuid NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
        persona_a_id uuid REFERENCES personas(id) ON DELETE SET NULL,
        persona_b_id uuid REFERENCES personas(id) ON DELETE SET NULL,
        time_zone text NOT NULL DEFAULT 'America/Sao_Paulo',
        windows jsonb NOT NULL DEFAULT '{{}}'::jsonb,
        min_delay_s integer NOT NULL DEFAULT 3600 CHECK (min_delay_s >= 0),
        jitter_s integer NOT NULL DEFAULT 600 CHECK (jitter_s >= 0),
        min_turns integer NOT NULL DEFAULT 2 CHECK (min_turns >= 2),
        max_turns integer NOT NULL DEFAULT 6 CHECK (max_turns >= min_turns),
        active boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CHECK (instance_a_id <> instance_b_id)
    );
    COMMENT ON TABLE warmup_pairs IS 'writer: api';

    CREATE TABLE rounds (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        pair_id uuid NOT NULL REFERENCES warmup_pairs(id) ON DELETE CASCADE,
        initiator_instance_id uuid NOT NULL,
        responder_instance_id uuid NOT NULL,
        script_id text NOT NULL UNIQUE,
        planned_turns integer NOT NULL,
        turns_completed integer NOT NULL DEFAULT 0,
        status text NOT NULL CHECK (status IN ('started','completed','timed_out','aborted')),
        started_at timestamptz NOT NULL DEFAULT now(),
        completed_at timestamptz
    );
    CREATE INDEX rounds_pair ON rounds (pair_id, started_at DESC);
    COMMENT ON TABLE rounds IS 'writer: scheduler';

    CREATE TABLE round_skips (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tenant_id uuid NOT NULL,
        pair_id uuid NOT NULL REFERENCES warmup_pairs(id) ON DELETE CASCADE,
        reason text NOT NULL,
        scanned_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX round_skips_pair ON round_skips (pair_id, scanned_at DESC);
    COMMENT ON TABLE round_skips IS 'writer: scheduler';

    -- api: campaigns and their targets; outreach: each target's progress.
    CREATE TABLE campaigns (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        name text NOT NULL,
        instance_ids uuid[] NOT NULL,
        template text NOT NULL,
        personalize boolean NOT NULL DEFAULT false,
        send_window jsonb NOT NULL DEFAULT '{{}}'::jsonb,
        pacing jsonb NOT NULL DEFAULT '{{}}'::jsonb,
        status text NOT NULL DEFAULT 'running' CHECK (status IN ('running','paused','cancelled','completed')),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    COMMENT ON TABLE campaigns IS 'writer: api';

    CREATE TABLE campaign_targets (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        campaign_id uuid NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
        row_number integer NOT NULL,
        phone text NOT NULL,
        variables jsonb NOT NULL DEFAULT '{{}}'::jsonb,
        instance_id uuid,
        rendered_text text,
        validation text NOT NULL CHECK (validation IN ('ok','invalid_phone','duplicate','opted_out','blacklisted')),
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (campaign_id, row_number)
    );
    CREATE INDEX campaign_targets_campaign ON campaign_targets (campaign_id);
    COMMENT ON TABLE campaign_targets IS 'writer: api';

    CREATE TABLE campaign_target_progress (
        target_id uuid PRIMARY KEY REFERENCES campaign_targets(id) ON DELETE CASCADE,
        tenant_id uuid NOT NULL,
        campaign_id uuid NOT NULL,
        state text NOT NULL CHECK (state IN ('queued','rescheduled','sent','skipped','failed')),
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz,
        send_id uuid,
        reason text,
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX campaign_target_progress_campaign ON campaign_target_progress (campaign_id, state);
    COMMENT ON TABLE campaign_target_progress IS 'writer: outreach';

    -- api (alert intake consumer): admin alerts, one row per cause and subject inside the cool-down.
    CREATE TABLE admin_alerts (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        alert_key text NOT NULL,
        cause text NOT NULL,
        severity text NOT NULL,
        title text NOT NULL,
        detail text NOT NULL DEFAULT '',
        context jsonb NOT NULL DEFAULT '{{}}'::jsonb,
        instance_id uuid,
        conversation_id uuid,
        occurrences integer NOT NULL DEFAULT 1,
        first_seen_at timestamptz NOT NULL DEFAULT now(),
        last_seen_at timestamptz NOT NULL DEFAULT now(),
        delivered_at timestamptz,
        acknowledged_at timestamptz
    );
    CREATE INDEX admin_alerts_tenant ON admin_alerts (tenant_id, last_seen_at DESC);
    CREATE INDEX admin_alerts_key ON admin_alerts (tenant_id, alert_key, last_seen_at DESC);
    COMMENT ON TABLE admin_alerts IS 'writer: api';

    -- every producing service: its events staged in the same transaction as its state change.
    CREATE TABLE outbox (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        producer text NOT NULL,
        topic text NOT NULL,
        key bytea,
        payload bytea NOT NULL,
        headers jsonb NOT NULL DEFAULT '{{}}'::jsonb,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX outbox_producer ON outbox (producer, id);
    COMMENT ON TABLE outbox IS 'writer: each producing service, rows of its own producer name only';

    -- every consuming service: the event ids it has processed.
    CREATE TABLE processed_events (
        consumer text NOT NULL,
        event_id uuid NOT NULL,
        processed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer, event_id)
    );
    CREATE INDEX processed_events_age ON processed_events (processed_at);
    COMMENT ON TABLE processed_events IS 'writer: each consuming service, rows of its own consumer name only';
    """)


def downgrade() -> None:
    execute_script("""
    DROP TABLE IF EXISTS processed_events, outbox, admin_alerts, campaign_target_progress,
        campaign_targets, campaigns, round_skips, rounds, warmup_pairs, sends, replies,
        blacklist, opt_outs, consent_events, conversation_controls, conversation_guard_state,
        guard_decisions, messages, raw_events, conversations, contacts, instance_transitions,
        instances, personas, api_keys, tenants CASCADE;
    """)
