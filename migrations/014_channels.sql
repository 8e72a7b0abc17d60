-- 014_channels: alerts where people work (issue 11; docs/channels.md).
--
-- channels          chat robots, incoming webhooks and mail servers an admin
--                   registered; their secrets (the robot URL with its key,
--                   the signing secret, the mail password) sealed with the
--                   data key, and the limiter's state: when the last sends
--                   went out and until when the platform blocks us.
-- channel_messages  the alert outbox: one row per message to send, made in
--                   the transaction of what it reports (a trigger on the
--                   notification outbox, or the SLA engine's ladder step),
--                   sent at least once by the alert worker, folded into a
--                   digest when a burst meets the platform's limit, copied to
--                   the fallback channel when its own channel cannot take it.
-- ladders           per tier and event, the ordered steps of an escalation
--                   ladder: a channel, the people it names, a delay.
-- ladder_runs       the ladder a ticket is climbing: which step is next;
--                   its deadline is the ticket's `ladder` timer, fired by the
--                   SLA engine like every other deadline.
-- ack_links_used    the one-click acknowledgement links that were used.

CREATE TABLE channels (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    kind            text NOT NULL CHECK (kind IN ('webhook', 'wecom', 'dingtalk', 'feishu', 'slack', 'smtp')),
    language        text NOT NULL DEFAULT 'zh' CHECK (language IN ('zh', 'en')),
    -- the notification types this channel receives directly; empty = only
    -- the ladders that name it
    event_types     text[] NOT NULL DEFAULT '{}'
                        CHECK (event_types <@ ARRAY['breached', 'at_risk', 'major_created']),
    tiers           smallint[] NOT NULL DEFAULT '{1,2,3}' CHECK (tiers <@ ARRAY[1, 2, 3]::smallint[]),
    -- what the API shows of the destination: the URL with its key masked, or
    -- the mail server and the recipients
    target          text NOT NULL,
    -- esc1 sealed JSON {"url", "secret", "password"} (base/datakey.h), bound
    -- to "channels.secret:<id>"
    sealed          text NOT NULL,
    -- what is not secret: the mail server, sender, recipients, TLS mode
    config          jsonb NOT NULL DEFAULT '{}',
    rate_count      integer NOT NULL CHECK (rate_count BETWEEN 1 AND 10000),
    rate_seconds    integer NOT NULL CHECK (rate_seconds BETWEEN 1 AND 3600),
    block_seconds   integer NOT NULL DEFAULT 0 CHECK (block_seconds BETWEEN 0 AND 86400),
    digest_after    integer NOT NULL DEFAULT 3 CHECK (digest_after BETWEEN 1 AND 100),
    fallback_id     bigint REFERENCES channels(id),
    -- the limiter: when the messages of the current window went out
    sent_at         timestamptz[] NOT NULL DEFAULT '{}',
    blocked_until   timestamptz,
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      bigint REFERENCES principals(id),
    deleted_at      timestamptz,
    CHECK (active = (deleted_at IS NULL)),
    CHECK (fallback_id IS DISTINCT FROM id)
);
CREATE UNIQUE INDEX channels_name_active ON channels (name) WHERE active;

CREATE TABLE channel_messages (
    id              bigserial PRIMARY KEY,
    channel_id      bigint NOT NULL REFERENCES channels(id),
    ticket_id       bigint REFERENCES tickets(id),
    source          text NOT NULL CHECK (source IN ('notification', 'ladder', 'test', 'digest', 'fallback')),
    notification_id bigint REFERENCES notifications(id),
    -- the principals the message is for (a ladder step's): each gets a
    -- one-click acknowledgement link of their own
    recipients      bigint[] NOT NULL DEFAULT '{}',
    -- what the message says, masked: type, ticket_id, tier, severity,
    -- subject, deadlines; a digest's items
    facts           jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'delivered', 'failed', 'folded', 'cancelled')),
    -- attempts started; also the fencing token of the lease (workers/alerts.c)
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    folded_into     bigint REFERENCES channel_messages(id),
    fallback_of     bigint REFERENCES channel_messages(id),
    hops            integer NOT NULL DEFAULT 0 CHECK (hops BETWEEN 0 AND 3),
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_attempt_at timestamptz,
    delivered_at    timestamptz,
    last_error      text
);
CREATE INDEX channel_messages_due ON channel_messages (channel_id, next_attempt_at) WHERE status = 'pending';
CREATE INDEX channel_messages_next ON channel_messages (next_attempt_at) WHERE status = 'pending';
CREATE INDEX channel_messages_ticket ON channel_messages (ticket_id);
CREATE INDEX channel_messages_channel ON channel_messages (channel_id, id);

CREATE TABLE ladders (
    id          bigserial PRIMARY KEY,
    tier        smallint NOT NULL CHECK (tier BETWEEN 1 AND 3),
    event       text NOT NULL CHECK (event IN ('ack_breach', 'resolve_breach', 'at_risk', 'major_created')),
    -- [{"channel_id": N, "recipients": [principal ids], "delay_seconds": N}, ...],
    -- checked by the service (service/channels.c) before it is stored
    steps       jsonb NOT NULL CHECK (jsonb_typeof(steps) = 'array' AND jsonb_array_length(steps) BETWEEN 1 AND 20),
    repeat      integer NOT NULL DEFAULT 1 CHECK (repeat BETWEEN 1 AND 10),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  bigint REFERENCES principals(id),
    UNIQUE (tier, event)
);

CREATE TABLE ladder_runs (
    ticket_id   bigint PRIMARY KEY REFERENCES tickets(id),
    -- no foreign key: DELETE /v1/ladders/... removes the ladder and ends its
    -- runs, which keep its id as history (store_alerts.c, ladder_delete)
    ladder_id   bigint NOT NULL,
    event       text NOT NULL,
    -- the ladder of an unacknowledged hand-off stops at acknowledgement, that
    -- of a resolution deadline at resolution
    stop_on     text NOT NULL CHECK (stop_on IN ('acknowledged', 'resolved')),
    steps       jsonb NOT NULL,   -- the ladder's steps when the run started
    repeat      integer NOT NULL,
    round       integer NOT NULL DEFAULT 1,
    step        integer NOT NULL DEFAULT 1,  -- the next step to fire, from 1
    started_at  timestamptz NOT NULL DEFAULT now(),
    ended_at    timestamptz,
    end_reason  text CHECK (end_reason IN ('acknowledged', 'resolved', 'closed', 'exhausted', 'replaced'))
);

CREATE TABLE ack_links_used (
    nonce        text PRIMARY KEY,
    ticket_id    bigint NOT NULL REFERENCES tickets(id),
    principal_id bigint NOT NULL REFERENCES principals(id),
    used_at      timestamptz NOT NULL DEFAULT now(),
    outcome      text NOT NULL
);

-- The SLA vocabulary: the `ladder` timer (core/model.h, checked on connect).
ALTER TABLE timers DROP CONSTRAINT timers_kind_check,
    ADD CONSTRAINT timers_kind_check
        CHECK (kind IN ('ack', 'resolve', 'warn', 'callback', 'promise', 'ladder'));

-- The history records each step of a ladder (`alerted`; 010's
-- escalated_allow_event_types).
SELECT escalated_allow_event_types('alerted');

-- A notification reaches the channels that want it, and may start a ladder,
-- in the transaction that made it: whoever inserts a notification (the SLA
-- engine's breach, a major create) needs to know nothing of channels.
CREATE FUNCTION escalated_alerts_route() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    t record;
    l record;
    ev text;
    stop text;
    first_due timestamptz;
BEGIN
    SELECT id, tier, state, severity, subject INTO t FROM tickets WHERE id = NEW.ticket_id;
    INSERT INTO channel_messages (channel_id, ticket_id, source, notification_id, facts)
    SELECT c.id, NEW.ticket_id, 'notification', NEW.id,
           NEW.payload || jsonb_build_object('type', NEW.type, 'subject', t.subject)
    FROM channels c
    WHERE c.active AND NEW.type = ANY (c.event_types) AND t.tier = ANY (c.tiers);

    ev := CASE WHEN NEW.type = 'breached' AND NEW.payload->>'kind' = 'ack' THEN 'ack_breach'
               WHEN NEW.type = 'breached' AND NEW.payload->>'kind' = 'resolve' THEN 'resolve_breach'
               WHEN NEW.type IN ('at_risk', 'major_created') THEN NEW.type END;
    IF ev IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT * INTO l FROM ladders WHERE tier = t.tier AND event = ev;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    stop := CASE WHEN ev IN ('ack_breach', 'major_created') THEN 'acknowledged' ELSE 'resolved' END;
    -- already past what stops it: nothing to climb
    IF (stop = 'acknowledged' AND t.state <> 'awaiting_ack') OR
       (stop = 'resolved' AND t.state IN ('resolved', 'closed')) THEN
        RETURN NULL;
    END IF;
    first_due := now() + make_interval(secs => (l.steps->0->>'delay_seconds')::float8);
    INSERT INTO ladder_runs (ticket_id, ladder_id, event, stop_on, steps, repeat)
    VALUES (NEW.ticket_id, l.id, ev, stop, l.steps, l.repeat)
    ON CONFLICT (ticket_id) DO UPDATE SET ladder_id = EXCLUDED.ladder_id, event = EXCLUDED.event,
        stop_on = EXCLUDED.stop_on, steps = EXCLUDED.steps, repeat = EXCLUDED.repeat, round = 1,
        step = 1, started_at = now(), ended_at = NULL, end_reason = NULL;
    INSERT INTO timers (ticket_id, kind, due_at) VALUES (NEW.ticket_id, 'ladder', first_due)
    ON CONFLICT (ticket_id, kind) DO UPDATE SET due_at = EXCLUDED.due_at;
    -- every daemon's engine hears of the new deadline at commit
    PERFORM pg_notify('escalated_timers',
                      to_char(first_due AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'));
    RETURN NULL;
END;
$$;
CREATE TRIGGER notifications_alerts AFTER INSERT ON notifications
    FOR EACH ROW EXECUTE FUNCTION escalated_alerts_route();

-- A ladder stops as soon as what it chases happens: the acknowledgement (by
-- an action, a claim or a one-click link), or the resolution.
CREATE FUNCTION escalated_ladder_stop() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ladder_runs SET ended_at = now(),
        end_reason = CASE WHEN NEW.state IN ('resolved', 'closed') AND stop_on = 'resolved' THEN NEW.state
                          ELSE 'acknowledged' END
    WHERE ticket_id = NEW.id AND ended_at IS NULL AND
          ((stop_on = 'acknowledged' AND NEW.state <> 'awaiting_ack') OR
           (stop_on = 'resolved' AND NEW.state IN ('resolved', 'closed')));
    IF FOUND THEN
        DELETE FROM timers WHERE ticket_id = NEW.id AND kind = 'ladder';
    END IF;
    RETURN NULL;
END;
$$;
-- Only the changes that can end a run reach the function: a ladder runs
-- while its ticket awaits acknowledgement (then it leaves awaiting_ack) or
-- until it is resolved, so the other actions pay nothing but this test.
CREATE TRIGGER tickets_ladder_stop AFTER UPDATE OF state ON tickets
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state AND
                       (OLD.state = 'awaiting_ack' OR NEW.state IN ('resolved', 'closed')))
    EXECUTE FUNCTION escalated_ladder_stop();
