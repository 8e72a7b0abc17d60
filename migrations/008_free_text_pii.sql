-- 008_free_text_pii: personal data in free text stored masked, the originals
-- sealed beside it (docs/security.md "Personal data in free text"), and
-- trigram indexes so that `q` stays an index search on a million tickets.
--
-- The daemon scans subject, description, category (tickets) and reason,
-- body, resolution and satisfaction feedback (events; the ticket's own
-- resolution and sat_feedback columns carry the same masked text) for
-- phones, identity numbers, bank cards and e-mail addresses before it
-- writes them.  The columns themselves hold the MASKED text, so every
-- reader (reports, CSV, dashboard, `q`, logs) only sees masked text;
-- pii_sealed holds what was found (one esc1:v<N>: value of a JSON document,
-- bound to "tickets.pii:<id>" or "events.pii:<id>"), NULL when nothing was.
-- The key never reaches the database, so rows written before this
-- migration keep their clear text (docs/security.md says what that means).
ALTER TABLE tickets ADD COLUMN pii_sealed text;
ALTER TABLE events ADD COLUMN pii_sealed text;

-- text_scanned: the ticket's texts went through the scanner.  Rows from
-- before 008 (and rows a daemon of the release before writes during an
-- upgrade) are false, and `escalated serve` scans, masks and seals them in
-- batches at start; this daemon's creates write true.  Adding a column with
-- a constant default rewrites nothing; the partial index is empty once
-- every row is scanned, so the start-up check then costs nothing.
ALTER TABLE tickets ADD COLUMN text_scanned boolean NOT NULL DEFAULT false;
CREATE INDEX tickets_text_unscanned ON tickets (id) WHERE NOT text_scanned;

-- `q` is "subject ILIKE $q OR description ILIKE $q": one trigram index per
-- column lets the planner OR two bitmap index scans instead of reading every
-- row.  pg_trgm is a trusted contrib extension (postgresql-15 ships it), so
-- the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX tickets_subject_trgm ON tickets USING gin (subject gin_trgm_ops);
CREATE INDEX tickets_description_trgm ON tickets USING gin (description gin_trgm_ops);

-- A masked e-mail address can be longer than the address ("ab@x.cn" is
-- "a***@x.cn"), so a category of 64 characters as written (the API's
-- limit) may be up to half as long again as stored.
ALTER TABLE tickets DROP CONSTRAINT tickets_category_check,
    ADD CONSTRAINT tickets_category_check CHECK (length(category) <= 96);
