-- 006_customer_sealed: customer data encrypted at rest (docs/security.md).
-- The daemon seals each customer field with AES-256-GCM (lib/base/datakey.c)
-- and sends only the sealed text; the key never reaches the database, so
-- nothing here can seal: rows written before this migration keep their clear
-- columns until a daemon seals them (`escalated serve` does so at start, in
-- batches, before it listens; docs/security.md "Rows from before 006").
--
-- Per field: *_sealed (esc1:v<N>:..., bound to "tickets.<column>:<id>") and
-- *_masked, the form ordinary reads show, computed at write time so that a
-- read never needs the key.  The phone and the identity number also get a
-- keyed blind index (64 hex) for the manager's exact-match search.
-- customer_key_version is the data key version every sealed field of the row
-- uses (NULL: nothing sealed), so a rotation finds the rows it must redo.
-- The old clear columns stay, always NULL once a row is sealed: a daemon of
-- the previous release still running during an upgrade may write them, and
-- the next start of this one seals what it finds there.
ALTER TABLE tickets
    ADD COLUMN customer_name_sealed       text,
    ADD COLUMN customer_phone_sealed      text,
    ADD COLUMN customer_email_sealed      text,
    ADD COLUMN customer_id_number_sealed  text,
    ADD COLUMN customer_bank_card_sealed  text,
    ADD COLUMN customer_name_masked       text,
    ADD COLUMN customer_phone_masked      text,
    ADD COLUMN customer_email_masked      text,
    ADD COLUMN customer_id_number_masked  text,
    ADD COLUMN customer_bank_card_masked  text,
    ADD COLUMN customer_phone_bi          text,
    ADD COLUMN customer_id_number_bi      text,
    ADD COLUMN customer_key_version       integer;

-- exact-match lookups of earlier complaints of one customer
CREATE INDEX tickets_customer_phone_bi ON tickets (customer_phone_bi)
    WHERE customer_phone_bi IS NOT NULL;
CREATE INDEX tickets_customer_id_number_bi ON tickets (customer_id_number_bi)
    WHERE customer_id_number_bi IS NOT NULL;
-- a rotation's batches: rows sealed with a version below the current one
CREATE INDEX tickets_customer_key_version ON tickets (customer_key_version, id)
    WHERE customer_key_version IS NOT NULL;
-- rows still in clear (from before 006, or from a daemon of the previous
-- release): empty once sealed, so the start-up check costs nothing
CREATE INDEX tickets_customer_clear ON tickets (id)
    WHERE customer_name IS NOT NULL OR customer_phone IS NOT NULL
       OR customer_email IS NOT NULL OR customer_id_number IS NOT NULL;
