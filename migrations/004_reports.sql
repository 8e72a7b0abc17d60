-- 004_reports: what the manager reports (GET /v1/reports/sla, /v1/reports/monthly)
-- and the event feed (GET /v1/events) need.  See docs/reports.md and docs/api.md.
--
-- 1. tickets.created_at is indexed: every report selects the tickets created in
--    a period.
-- 2. tickets.first_acknowledged_at: when the ticket was first acknowledged
--    (acknowledged_at is the latest acknowledgement, overwritten at every tier).
--    The mean time to acknowledge is measured to it.  A trigger sets it on the
--    update that first sets acknowledged_at (acknowledge or claim); its WHEN
--    clause keeps every other update free of any trigger call.  Existing
--    tickets get it from their history.
-- 3. events.xid: the (64-bit) id of the transaction that inserted the event.
--    Event ids come from a sequence and can commit out of order (id 11 visible
--    while id 10 is still uncommitted); the feed is ordered by (xid, id) and
--    only shows events whose transaction is older than every transaction still
--    running, so a consumer that walks it never skips one.  Events recorded
--    before this migration get xid 0 (they are all committed): they come
--    first, in id order.

CREATE INDEX tickets_created ON tickets (created_at);

ALTER TABLE tickets ADD COLUMN first_acknowledged_at timestamptz;
UPDATE tickets t SET first_acknowledged_at = a.at
FROM (SELECT ticket_id, min(at) AS at FROM events WHERE type = 'acknowledged' GROUP BY ticket_id) a
WHERE a.ticket_id = t.id;

CREATE FUNCTION escalated_first_acknowledged() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.first_acknowledged_at := NEW.acknowledged_at;
    RETURN NEW;
END;
$$;
CREATE TRIGGER tickets_first_acknowledged BEFORE UPDATE ON tickets
    FOR EACH ROW
    WHEN (OLD.first_acknowledged_at IS NULL AND NEW.first_acknowledged_at IS NULL
          AND NEW.acknowledged_at IS NOT NULL)
    EXECUTE FUNCTION escalated_first_acknowledged();

-- A constant default first (no table rewrite), then the real one for new rows.
ALTER TABLE events ADD COLUMN xid xid8 NOT NULL DEFAULT '0';
ALTER TABLE events ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
CREATE INDEX events_feed ON events (xid, id);
