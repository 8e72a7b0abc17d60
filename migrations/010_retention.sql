-- 010_retention: retention of the customer's personal data (docs/operations.md
-- "Retention and anonymisation", docs/decisions.md).
--
-- The history of a ticket is kept, whole, for good.  The customer's personal
-- data of a CLOSED ticket is anonymised once `months` calendar months have
-- passed since closed_at, by the database's clock: the sealed values, the
-- blind indexes and the sealed free-text findings (the ticket's and its
-- events') are erased, the masked forms become a fixed marker, and the
-- ticket records anonymised_at and an `anonymised` event.  Nothing else of
-- the ticket, its history, its breaches or any report changes.

-- One row: the period.  In the database rather than a daemon setting, so
-- that every daemon of a database (and `escalated retention run`) uses the
-- same one.  The procedures keep transfer records at least 4 months: the
-- CHECK refuses anything shorter, whoever writes it.
CREATE TABLE retention (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    months     integer NOT NULL CHECK (months BETWEEN 4 AND 1200),
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by bigint REFERENCES principals(id)
);
INSERT INTO retention (months) VALUES (12);

ALTER TABLE tickets ADD COLUMN anonymised_at timestamptz;
-- The run's candidates, oldest closed first; empty of every ticket done, so
-- a run with nothing to do is an index probe.
CREATE INDEX tickets_retention_due ON tickets (closed_at, id)
    WHERE state = 'closed' AND anonymised_at IS NULL;

-- Lists in CHECK constraints (event types, notification types).  Later
-- migrations add their own names to whatever a list allows when they run,
-- rather than restating it, so that migrations written side by side compose
-- in any order: escalated_allow_names('events', 'events_type_check', 'a', 'b')
-- adds those of its names the constraint lacks.  The new constraint checks
-- every row once (a sequential scan under the table's lock, a few seconds per
-- million rows).
CREATE FUNCTION escalated_allow_names(tbl regclass, con name, VARIADIC names text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    def text;
    added text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO def FROM pg_constraint
     WHERE conrelid = tbl AND conname = con;
    IF def IS NULL OR position('ARRAY[' IN def) = 0 THEN
        RAISE EXCEPTION '% is not a list of names: %', con, def;
    END IF;
    SELECT string_agg(quote_literal(n) || '::text, ', '') INTO added
      FROM unnest(names) AS n WHERE position(quote_literal(n) IN def) = 0;
    IF added IS NOT NULL THEN
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', tbl, con);
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I ', tbl, con)
             || replace(def, 'ARRAY[', 'ARRAY[' || added);
    END IF;
END;
$$;
CREATE FUNCTION escalated_allow_event_types(VARIADIC names text[]) RETURNS void
LANGUAGE sql AS $$ SELECT escalated_allow_names('events', 'events_type_check', VARIADIC names) $$;

-- The `anonymised` event.
SELECT escalated_allow_event_types('anonymised');

-- The history stays append-only with ONE exception (docs/decisions.md,
-- "Anonymising an append-only history"): the sealed findings of an event
-- (pii_sealed, migration 008) may be set to NULL, and nothing else of the
-- row changed, once the event's ticket is anonymised.  The event keeps the
-- masked text it was written with; only the key to the originals goes.
-- DELETE and TRUNCATE stay refused.
CREATE FUNCTION escalated_history_is_append_only_but_erasable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.pii_sealed IS NOT NULL AND NEW.pii_sealed IS NULL
       AND (to_jsonb(NEW) - 'pii_sealed') = (to_jsonb(OLD) - 'pii_sealed')
       AND EXISTS (SELECT 1 FROM tickets t
                    WHERE t.id = OLD.ticket_id AND t.anonymised_at IS NOT NULL) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the ticket history is append-only: % is not allowed on %', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
DROP TRIGGER events_append_only ON events;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION escalated_history_is_append_only_but_erasable();
