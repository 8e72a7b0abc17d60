-- bench/preload.sql: psql script that tops up the line-1 claim queue with
-- :n tickets in one statement, in the shape of the create statement (the
-- ticket, its `created` event and its ack/resolve/warn timers, deadlines from
-- the policy), with the same values as bench/create.sql.  Variables (psql -v):
-- n, severity, channel, category, subject, description, cust_name, cust_phone,
-- cust_email, cust_id, created_by.  The customer goes into the sealed
-- columns (migration 006) as it comes: the claim never reads them, and a
-- clear value in the clear columns would be sealed by the next daemon start.
WITH p AS (SELECT ack_seconds, resolve_seconds, warn_ratio FROM policies WHERE severity = :'severity'),
t AS (INSERT INTO tickets (tier, state, severity, channel, category, subject, description,
  customer_name_sealed, customer_phone_sealed, customer_email_sealed,
  customer_id_number_sealed, external_ref,
  created_by, idempotency_key, request_hash, ack_due_at, resolve_started_at,
  resolve_due_at, warn_due_at)
 SELECT 1, 'awaiting_ack', :'severity', :'channel', :'category', :'subject', :'description',
  :'cust_name', :'cust_phone', :'cust_email', :'cust_id', NULL, :created_by, NULL, NULL,
  now() + make_interval(secs => p.ack_seconds), now(),
  now() + make_interval(secs => p.resolve_seconds),
  now() + make_interval(secs => p.resolve_seconds * p.warn_ratio)
 FROM p, generate_series(1, :n) AS g
 RETURNING id, ack_due_at, resolve_due_at, warn_due_at),
e AS (INSERT INTO events (ticket_id, type, actor_id, to_tier, to_state)
 SELECT id, 'created', :created_by, 1, 'awaiting_ack' FROM t)
INSERT INTO timers (ticket_id, kind, due_at)
 SELECT t.id, k.kind, k.due FROM t, LATERAL (VALUES ('ack', t.ack_due_at),
 ('resolve', t.resolve_due_at), ('warn', t.warn_due_at)) AS k(kind, due);
