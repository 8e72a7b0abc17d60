-- 003_webhooks: delivery of the notification outbox (002) to HTTP endpoints.
-- `webhooks` are the endpoints admins register (URL, the notification types
-- they want, the HMAC secret).  `deliveries` hold one row per (notification,
-- webhook): the delivery id receivers dedupe by, its attempts, back-off and
-- outcome.  The delivery worker fans a notification out to the webhooks that
-- are active and want its type; a notification that no webhook wants becomes
-- `undeliverable` (visible, and retryable once an endpoint exists), so the
-- outbox's status CHECK gains that value.

CREATE TABLE webhooks (
    id          bigserial PRIMARY KEY,
    url         text NOT NULL CHECK (length(url) BETWEEN 8 AND 2048 AND url ~* '^https?://'),
    -- the notification types this endpoint receives; never empty
    event_types text[] NOT NULL CHECK (cardinality(event_types) >= 1 AND
                    event_types <@ ARRAY['breached', 'at_risk', 'major_created']),
    -- kept in the clear: the worker needs it to sign.  The API shows it only
    -- in the answer to the create.
    secret      text NOT NULL CHECK (length(secret) BETWEEN 16 AND 256),
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  bigint REFERENCES principals(id),
    deleted_at  timestamptz,
    CHECK (active = (deleted_at IS NULL))
);

CREATE TABLE deliveries (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    notification_id bigint NOT NULL REFERENCES notifications(id),
    webhook_id      bigint NOT NULL REFERENCES webhooks(id),
    status          text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'delivered', 'failed', 'cancelled')),
    -- attempts started; also the fencing token of the lease (see lib/webhook.c)
    attempts        integer NOT NULL DEFAULT 0,
    -- when pending: when the next attempt is due, or when the lease of the
    -- attempt in flight runs out
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_attempt_at timestamptz,
    last_status     integer,          -- HTTP status of the last answer; NULL when none came
    last_error      text,
    delivered_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (notification_id, webhook_id)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_webhook_pending ON deliveries (webhook_id) WHERE status = 'pending';

ALTER TABLE notifications DROP CONSTRAINT notifications_status_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_status_check
    CHECK (status IN ('pending', 'delivered', 'failed', 'undeliverable'));
-- set when the worker has made the notification's deliveries
ALTER TABLE notifications ADD COLUMN routed_at timestamptz;
CREATE INDEX notifications_unrouted ON notifications (id) WHERE status = 'pending' AND routed_at IS NULL;
CREATE INDEX notifications_status_id ON notifications (status, id);
