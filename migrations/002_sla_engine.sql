-- 002_sla_engine: the notification outbox written by the SLA engine (breaches,
-- at-risk warnings) and by creates of major complaints, in the same
-- transaction as the change; a later delivery worker (webhooks) drains it.
-- Also the indexes GET /v1/breaches filters by.

CREATE TABLE notifications (
    id              bigserial PRIMARY KEY,
    ticket_id       bigint NOT NULL REFERENCES tickets(id),
    type            text NOT NULL CHECK (type IN ('breached', 'at_risk', 'major_created')),
    audience        text NOT NULL DEFAULT 'managers',
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    last_error      text
);
CREATE INDEX notifications_pending ON notifications (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notifications_ticket ON notifications (ticket_id);

CREATE INDEX breaches_kind_detected ON breaches (kind, detected_at);
