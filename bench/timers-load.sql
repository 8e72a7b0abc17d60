-- bench/timers-load.sql: psql script with which bench/timers.sh loads open
-- tickets number :first .. :last in one statement, in the shape of
-- S_TICKET_CREATE (lib/db/store_tickets.c) for a normal complaint: the ticket
-- (line-1, awaiting_ack), its `created` event and its ack/resolve/warn timers,
-- deadlines from the normal policy.  One difference: each ticket's clock
-- starts :horizon seconds plus a per-ticket spread of up to a day in the
-- future (resolve_started_at too, so every deadline is its start plus the
-- policy), so that no loaded timer comes due while the benchmark runs.
-- bench/timers.sh checks that the column lists and the timer kinds are still
-- the daemon's.  Variables (psql -v): first, last, horizon, severity, channel,
-- category, subject, description, cust_name, cust_phone, cust_email, cust_id,
-- created_by.  The customer goes into the sealed columns (migration 006) as
-- it comes: the benchmark never opens them, and values in the clear columns
-- would be sealed, a million rows of them, when the daemon starts.
WITH p AS (SELECT ack_seconds, resolve_seconds, warn_ratio FROM policies WHERE severity = :'severity'),
t AS (INSERT INTO tickets (id, tier, state, severity, channel, category, subject,
  description, customer_name_sealed, customer_phone_sealed, customer_email_sealed,
  customer_id_number_sealed, external_ref,
  created_by, idempotency_key, request_hash, ack_due_at, resolve_started_at,
  resolve_due_at, warn_due_at, customer_bank_card_sealed, customer_name_masked,
  customer_phone_masked, customer_email_masked, customer_id_number_masked,
  customer_bank_card_masked, customer_phone_bi, customer_id_number_bi,
  customer_key_version)
 SELECT coalesce(NULL::bigint, nextval('tickets_id_seq')), 1, 'awaiting_ack', :'severity', :'channel', :'category', :'subject', :'description',
  :'cust_name', :'cust_phone', :'cust_email', :'cust_id', NULL, :created_by, NULL, NULL,
  o.start + make_interval(secs => p.ack_seconds), o.start,
  o.start + make_interval(secs => p.resolve_seconds),
  o.start + make_interval(secs => p.resolve_seconds * p.warn_ratio),
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
 FROM p, generate_series(:first::bigint, :last::bigint) AS g,
  LATERAL (SELECT now() + make_interval(secs => (:horizon + (g * 7919) % 86400
                                                 + ((g * 104729) % 1000000) / 1e6)::float8)) AS o(start)
 RETURNING id, ack_due_at, resolve_due_at, warn_due_at),
e AS (INSERT INTO events (ticket_id, type, actor_id, to_tier, to_state)
 SELECT id, 'created', :created_by, 1, 'awaiting_ack' FROM t)
INSERT INTO timers (ticket_id, kind, due_at)
 SELECT t.id, k.kind, k.due FROM t, LATERAL (VALUES ('ack', t.ack_due_at),
 ('resolve', t.resolve_due_at), ('warn', t.warn_due_at)) AS k(kind, due);
