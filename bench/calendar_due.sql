-- calendar_due.sql — PROTOTYPE, for bench/calendar.sh only (not a migration):
-- the callback deadline of lib/core/deadline.c (esc_deadline_callback)
-- computed inside PostgreSQL from the calendar document, with AT TIME ZONE,
-- as the reports group by local day.  It measures the other way the issue
-- offered ("the calendar arithmetic moves into PostgreSQL") and checks that
-- PostgreSQL's zone rules and lib/core/tz.c give the same instants.
--
-- The end of business, in the calendar's zone, of the n-th working day after
-- the local day of `resolved`: extra workdays are worked with Monday's hours
-- (09:00-18:30 when Monday is not worked), holidays never, other days by
-- their weekday's hours.
CREATE OR REPLACE FUNCTION bench_callback_due(doc jsonb, resolved timestamptz, n int)
RETURNS timestamptz LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    tz   text := doc->>'timezone';
    d    date := (resolved AT TIME ZONE tz)::date;
    seen int := 0;
    h    jsonb;
    day  text;
    k    text;
BEGIN
    IF n < 1 THEN
        n := 1;
    END IF;
    FOR i IN 1..3660 LOOP
        d := d + 1;
        day := to_char(d, 'YYYY-MM-DD');
        IF doc->'extra_workdays' ? day THEN
            h := coalesce(doc->'hours'->'mon', '["09:00", "18:30"]');
        ELSIF doc->'holidays' ? day THEN
            CONTINUE;
        ELSE
            k := (ARRAY['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'])[extract(isodow FROM d)];
            h := doc->'hours'->k;
            IF h IS NULL THEN
                CONTINUE;
            END IF;
        END IF;
        seen := seen + 1;
        IF seen = n THEN
            -- '24:00'::time is midnight ending the day, as in the C code
            RETURN (d + (h->>1)::time) AT TIME ZONE tz;
        END IF;
    END LOOP;
    RETURN NULL;
END $$;

-- What a resolve would call: the stored calendar's deadline.
CREATE OR REPLACE FUNCTION bench_callback_due(resolved timestamptz, n int)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT bench_callback_due(doc, resolved, n) FROM calendar
$$;
