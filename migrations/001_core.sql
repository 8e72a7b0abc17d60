-- 001_core: the core schema of escalated.
-- Principals (token hashes only), per-severity policies, the business
-- calendar, tickets with every deadline the SPEC defines, the live timers
-- the SLA engine finds by due time, the append-only history, and breaches.

CREATE TABLE principals (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    role        text NOT NULL CHECK (role IN ('frontdesk', 'agent', 'manager', 'admin')),
    tier        smallint CHECK (tier BETWEEN 1 AND 3),
    token_hash  text NOT NULL UNIQUE,            -- hex SHA-256 of the bearer token
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CHECK ((role = 'agent') = (tier IS NOT NULL))
);

CREATE TABLE policies (
    severity               text PRIMARY KEY CHECK (severity IN ('normal', 'major')),
    ack_seconds            integer NOT NULL CHECK (ack_seconds > 0),
    resolve_seconds        integer NOT NULL CHECK (resolve_seconds > 0),
    warn_ratio             double precision NOT NULL CHECK (warn_ratio > 0 AND warn_ratio < 1),
    callback_business_days integer NOT NULL CHECK (callback_business_days BETWEEN 1 AND 365),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
INSERT INTO policies (severity, ack_seconds, resolve_seconds, warn_ratio, callback_business_days)
VALUES ('normal', 600, 86400, 0.8, 3),
       ('major', 600, 172800, 0.8, 3);

-- One row: the business calendar in the SPEC's JSON form.
CREATE TABLE calendar (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    doc        jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO calendar (doc) VALUES ('{
  "timezone": "Asia/Shanghai",
  "hours": {"mon": ["09:00", "18:30"], "tue": ["09:00", "18:30"], "wed": ["09:00", "18:30"],
            "thu": ["09:00", "18:30"], "fri": ["09:00", "18:30"]},
  "holidays": [],
  "extra_workdays": []
}');

CREATE TABLE tickets (
    id                  bigserial PRIMARY KEY,
    tier                smallint NOT NULL CHECK (tier BETWEEN 1 AND 3),
    state               text NOT NULL CHECK (state IN ('awaiting_ack', 'acknowledged',
                            'waiting_customer', 'resolved', 'closed')),
    severity            text NOT NULL CHECK (severity IN ('normal', 'major')),
    channel             text NOT NULL,
    category            text CHECK (length(category) <= 64),
    subject             text NOT NULL,
    description         text NOT NULL DEFAULT '',
    customer_name       text,
    customer_phone      text,
    customer_email      text,
    customer_id_number  text,
    external_ref        text UNIQUE,
    assignee_id         bigint REFERENCES principals(id),
    -- the last agent who held the ticket at each tier (for `return`)
    tier1_assignee_id   bigint REFERENCES principals(id),
    tier2_assignee_id   bigint REFERENCES principals(id),
    tier3_assignee_id   bigint REFERENCES principals(id),
    resolver_id         bigint REFERENCES principals(id),
    resolved_tier       smallint,
    root_cause          text CHECK (root_cause IN ('customer_side', 'operations', 'product_defect', 'other')),
    resolution          text,
    sat_result          text CHECK (sat_result IN ('satisfied', 'unsatisfied')),
    sat_score           smallint CHECK (sat_score BETWEEN 1 AND 5),
    sat_feedback        text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    acknowledged_at     timestamptz,
    resolved_at         timestamptz,
    closed_at           timestamptz,
    -- live deadlines (NULL when not running)
    ack_due_at          timestamptz,
    resolve_due_at      timestamptz,
    warn_due_at         timestamptz,
    callback_due_at     timestamptz,
    -- the resolve clock: window start, and what was left of it while paused
    resolve_started_at  timestamptz,
    resolve_left_us     bigint,            -- microseconds left on the resolve clock while paused
    warn_left_us        bigint,
    paused_at           timestamptz,
    paused_total_us     bigint NOT NULL DEFAULT 0,
    resolve_fired       boolean NOT NULL DEFAULT false,
    warn_fired          boolean NOT NULL DEFAULT false,
    breaches            text[] NOT NULL DEFAULT '{}',
    created_by          bigint REFERENCES principals(id),
    idempotency_key     text,
    request_hash        text,
    version             integer NOT NULL DEFAULT 1,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (created_by, idempotency_key)
);
-- The claim queue: narrow, only tickets awaiting acknowledgement.
CREATE INDEX tickets_queue ON tickets (tier, (severity = 'major') DESC, ack_due_at, id)
    WHERE state = 'awaiting_ack';
CREATE INDEX tickets_assignee ON tickets (assignee_id, id) WHERE assignee_id IS NOT NULL;
CREATE INDEX tickets_state_tier ON tickets (state, tier, id);

-- Live, unfired timers: what the SLA engine sleeps on, found by due time.
CREATE TABLE timers (
    ticket_id bigint NOT NULL REFERENCES tickets(id),
    kind      text NOT NULL CHECK (kind IN ('ack', 'resolve', 'warn', 'callback')),
    due_at    timestamptz NOT NULL,
    PRIMARY KEY (ticket_id, kind)
);
CREATE INDEX timers_due ON timers (due_at);

-- The history: append-only, enforced by the database.
CREATE TABLE events (
    id          bigserial PRIMARY KEY,
    ticket_id   bigint NOT NULL REFERENCES tickets(id),
    type        text NOT NULL CHECK (type IN ('created', 'acknowledged', 'escalated', 'returned',
                    'waiting', 'resumed', 'resolved', 'closed', 'reopened', 'commented',
                    'breached', 'at_risk', 'customer_revealed', 'notified')),
    at          timestamptz NOT NULL DEFAULT now(),
    actor_id    bigint REFERENCES principals(id),
    from_tier   smallint,
    to_tier     smallint,
    from_state  text,
    to_state    text,
    reason      text,
    body        text,
    data        jsonb
);
CREATE INDEX events_ticket ON events (ticket_id, id);

CREATE FUNCTION escalated_history_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ticket history is append-only: % is not allowed on %', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION escalated_history_is_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION escalated_history_is_append_only();

CREATE TABLE breaches (
    id          bigserial PRIMARY KEY,
    ticket_id   bigint NOT NULL REFERENCES tickets(id),
    kind        text NOT NULL CHECK (kind IN ('ack', 'resolve', 'callback')),
    tier        smallint NOT NULL,
    severity    text NOT NULL,
    assignee_id bigint REFERENCES principals(id),
    due_at      timestamptz NOT NULL,
    detected_at timestamptz NOT NULL
);
CREATE INDEX breaches_ticket ON breaches (ticket_id);
CREATE INDEX breaches_detected ON breaches (detected_at);
