-- 013_problem_recurrence: verification by recurrence (issue 10 item 4;
-- docs/recurrence.md, docs/reports.md).
--
-- Every ticket create looks for a `verifying` problem whose signature the new
-- complaint matches (same category, plus any of its keywords), in the create's
-- own statement (db/store_tickets.c, ticket_create).  The create is the
-- hottest write, so the lookup must be one probe of a small partial index: it
-- holds only the problems being verified, keyed by category.
CREATE INDEX problems_verifying ON problems (category, verify_started_at, id)
    WHERE state = 'verifying';

-- A recurrence notifies the problem's owner through the outbox: a new
-- notification type, which webhooks may subscribe to.  It is added to
-- whatever lists the two CHECKs hold now (as 010 and 012 add their event
-- types), so that no migration drops another's types.
DO $$
DECLARE
    def text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO def FROM pg_constraint
     WHERE conrelid = 'notifications'::regclass AND conname = 'notifications_type_check';
    IF def IS NULL OR position('ARRAY[' IN def) = 0 THEN
        RAISE EXCEPTION 'notifications_type_check is not a list of types: %', def;
    END IF;
    IF position('''problem_recurred''' IN def) = 0 THEN
        ALTER TABLE notifications DROP CONSTRAINT notifications_type_check;
        EXECUTE 'ALTER TABLE notifications ADD CONSTRAINT notifications_type_check '
             || replace(def, 'ARRAY[', 'ARRAY[''problem_recurred''::text, ');
    END IF;

    SELECT pg_get_constraintdef(oid) INTO def FROM pg_constraint
     WHERE conrelid = 'webhooks'::regclass AND conname = 'webhooks_event_types_check';
    IF def IS NULL OR position('ARRAY[' IN def) = 0 THEN
        RAISE EXCEPTION 'webhooks_event_types_check is not a list of types: %', def;
    END IF;
    IF position('''problem_recurred''' IN def) = 0 THEN
        ALTER TABLE webhooks DROP CONSTRAINT webhooks_event_types_check;
        EXECUTE 'ALTER TABLE webhooks ADD CONSTRAINT webhooks_event_types_check '
             || replace(def, 'ARRAY[', 'ARRAY[''problem_recurred''::text, ');
    END IF;
END;
$$;
