-- bench/create.sql: pgbench script for "create a ticket", the daemon's
-- S_TICKET_CREATE statement (lib/db/store_tickets.c) verbatim, one transaction.
-- Run with -M prepared; bench/run.sh passes the parameter values with -D,
-- the same values bench/create.lua POSTs to the daemon, and as $14 the
-- daemon's notify window (its --engine-max-sleep, in seconds, as it binds it).
-- The daemon binds $10 (external_ref), $12 (idempotency key) and $13
-- (request hash) as SQL NULL; pgbench cannot bind a NULL to a variable, so
-- those three are NULL literals here, marked with the parameter they stand for;
-- so is $25, the sealed free-text findings (migration 008), NULL for a
-- subject without personal data.
-- The customer is bound sealed, masked and blind-indexed (migration 006):
-- run.sh passes values of the lengths the daemon's have (sealing is the
-- daemon's CPU, not the database's).  $15, the id the daemon draws before it
-- seals (a round trip of its own), is NULL here: the statement then draws it.
-- pgbench takes every ":name" for a variable, even inside a string literal,
-- so the to_char() format is written as adjacent literals split after each
-- colon: SQL joins literals separated by a newline into one constant.
-- run.sh checks that this text, with the variables mapped back to $n and such
-- literals joined, equals the daemon's statement (it fails on drift).
WITH p AS (SELECT ack_seconds, resolve_seconds, warn_ratio FROM policies WHERE severity = :severity), 
t AS (INSERT INTO tickets (id, tier, state, severity, channel, category, subject, 
  description, customer_name_sealed, customer_phone_sealed, customer_email_sealed, 
  customer_id_number_sealed, external_ref, 
  created_by, idempotency_key, request_hash, ack_due_at, resolve_started_at, 
  resolve_due_at, warn_due_at, customer_bank_card_sealed, customer_name_masked, 
  customer_phone_masked, customer_email_masked, customer_id_number_masked, 
  customer_bank_card_masked, customer_phone_bi, customer_id_number_bi, 
  customer_key_version, pii_sealed, text_scanned) 
 SELECT coalesce(NULL/*$15*/::bigint, nextval('tickets_id_seq')), 1, 'awaiting_ack', 
  :severity, :channel, :category, :subject, :description, :cust_name, :cust_phone, :cust_email, :cust_id, NULL/*$10*/, :created_by, NULL/*$12*/, NULL/*$13*/, 
  now() + make_interval(secs => p.ack_seconds), now(), 
  now() + make_interval(secs => p.resolve_seconds), 
  now() + make_interval(secs => p.resolve_seconds * p.warn_ratio), 
  :cust_card, :m_name, :m_phone, :m_email, :m_id, :m_card, :bi_phone, :bi_id, :key_version::int, NULL/*$25*/, true FROM p 
 ON CONFLICT (created_by, idempotency_key) DO NOTHING RETURNING *), 
e AS (INSERT INTO events (ticket_id, type, actor_id, to_tier, to_state) 
 SELECT id, 'created', :created_by, 1, 'awaiting_ack' FROM t RETURNING ticket_id), 
tm AS (INSERT INTO timers (ticket_id, kind, due_at) 
 SELECT t.id, k.kind, k.due FROM t, LATERAL (VALUES ('ack', t.ack_due_at), 
 ('resolve', t.resolve_due_at), ('warn', t.warn_due_at)) AS k(kind, due)), 
n AS (INSERT INTO notifications (ticket_id, type, payload) 
 SELECT t.id, 'major_created', jsonb_build_object('type', 'major_created', 
  'ticket_id', t.id, 'severity', t.severity, 'tier', 'line-1', 'created_at', t.created_at) 
 FROM t WHERE t.severity = 'major' RETURNING id, ticket_id), 
ne AS (INSERT INTO events (ticket_id, type, data) 
 SELECT n.ticket_id, 'notified', jsonb_build_object('notification', 'major_created', 
  'notification_id', n.id, 'audience', 'managers') 
 FROM n JOIN e ON e.ticket_id = n.ticket_id), 
nf AS (SELECT pg_notify('escalated_timers', 
  to_char(least(t.ack_due_at, t.warn_due_at, t.resolve_due_at) AT TIME ZONE 'UTC', 
  'YYYY-MM-DD"T"HH24:'
'MI:'
'SS.US"Z"')) FROM t 
 WHERE least(t.ack_due_at, t.warn_due_at, t.resolve_due_at) 
  < now() + make_interval(secs => :notify_window::float8)) 
SELECT t.id, t.tier, t.state, t.severity, t.channel, t.category, t.subject, t.description, t.customer_name_masked AS customer_name, t.customer_phone_masked AS customer_phone, t.customer_email_masked AS customer_email, t.customer_id_number_masked AS customer_id_number, t.customer_bank_card_masked AS customer_bank_card, t.external_ref, t.assignee_id, a.name AS assignee_name, t.root_cause, t.resolution, t.sat_result, t.sat_score, t.sat_feedback, t.created_at, t.acknowledged_at, t.resolved_at, t.closed_at, t.ack_due_at, t.resolve_due_at, t.callback_due_at, t.breaches, t.version, t.promised_at, t.promise_solution, t.promise_tier, t.promise_by, t.problem_id, t.waiting_on_problem, least(t.ack_due_at, t.warn_due_at, t.resolve_due_at) AS first_due, 
 (SELECT count(*) FROM nf) AS notified FROM t LEFT JOIN principals a ON a.id = t.assignee_id;
