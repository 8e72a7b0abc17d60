-- bench/create.sql: pgbench script for "create a ticket", the daemon's
-- S_TICKET_CREATE statement (lib/db/store_tickets.c) verbatim, one transaction.
-- Run with -M prepared; bench/run.sh passes the parameter values with -D,
-- the same values bench/create.lua POSTs to the daemon, and as $14 the
-- daemon's notify window (its --engine-max-sleep, in seconds, as it binds it).
-- The daemon binds $10 (external_ref), $12 (idempotency key) and $13
-- (request hash) as SQL NULL; pgbench cannot bind a NULL to a variable, so
-- those three are NULL literals here, marked with the parameter they stand for;
-- so is $25, the sealed free-text findings (migration 008), NULL for a
-- subject without personal data.  The bench's category has no verifying
-- problem (migration 013), so the recurrence lookup finds nothing, as for
-- almost every complaint.
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
pm AS (SELECT x.id, x.verify_until FROM problems x WHERE x.state = 'verifying' 
  AND x.category = :category AND x.verify_until > now() 
  AND (cardinality(x.signature_keywords) = 0 OR EXISTS (SELECT 1 
   FROM unnest(x.signature_keywords) AS kw(k) WHERE strpos(lower(coalesce(:subject, '') 
    || E'\n' || coalesce(:description, '')), lower(kw.k)) > 0)) 
 ORDER BY x.verify_started_at, x.id LIMIT 1 FOR NO KEY UPDATE OF x), 
t AS (INSERT INTO tickets (id, tier, state, severity, channel, category, subject, 
  description, customer_name_sealed, customer_phone_sealed, customer_email_sealed, 
  customer_id_number_sealed, external_ref, 
  created_by, idempotency_key, request_hash, ack_due_at, resolve_started_at, 
  resolve_due_at, warn_due_at, customer_bank_card_sealed, customer_name_masked, 
  customer_phone_masked, customer_email_masked, customer_id_number_masked, 
  customer_bank_card_masked, customer_phone_bi, customer_id_number_bi, 
  customer_key_version, pii_sealed, text_scanned, problem_id) 
 SELECT coalesce(NULL/*$15*/::bigint, nextval('tickets_id_seq')), 1, 'awaiting_ack', 
  :severity, :channel, :category, :subject, :description, :cust_name, :cust_phone, :cust_email, :cust_id, NULL/*$10*/, :created_by, NULL/*$12*/, NULL/*$13*/, 
  now() + make_interval(secs => p.ack_seconds), now(), 
  now() + make_interval(secs => p.resolve_seconds), 
  now() + make_interval(secs => p.resolve_seconds * p.warn_ratio), 
  :cust_card, :m_name, :m_phone, :m_email, :m_id, :m_card, :bi_phone, :bi_id, :key_version::int, NULL/*$25*/, true, (SELECT id FROM pm) FROM p 
 ON CONFLICT (created_by, idempotency_key) DO NOTHING RETURNING *), 
e AS (INSERT INTO events (ticket_id, type, actor_id, to_tier, to_state) 
 SELECT id, 'created', :created_by, 1, 'awaiting_ack' FROM t RETURNING ticket_id), 
pu AS (UPDATE problems x SET state = 'open', recurrences = x.recurrences + 1, 
  reopened_count = x.reopened_count + 1, verify_started_at = NULL, verify_until = NULL, 
  version = x.version + 1, updated_at = now() 
 FROM pm, t WHERE x.id = pm.id 
 RETURNING x.id, x.owner_id, x.recurrences, pm.verify_until, t.id AS ticket_id), 
pe AS (INSERT INTO problem_events (problem_id, type, from_state, to_state, data) 
 SELECT pu.id, 'recurrence', 'verifying', 'open', jsonb_build_object('ticket_id', 
  pu.ticket_id, 'recurrences', pu.recurrences, 'verify_until', pu.verify_until) 
 FROM pu RETURNING problem_id), 
pn AS (INSERT INTO notifications (problem_id, type, audience, payload) 
 SELECT pu.id, 'problem_recurred', 'owner', jsonb_build_object('type', 'problem_recurred', 
  'problem_id', pu.id, 'ticket_id', pu.ticket_id, 'owner_id', pu.owner_id, 
  'category', :category::text, 'recurrences', pu.recurrences, 'at', now()) 
 FROM pu RETURNING id, problem_id), 
pne AS (INSERT INTO problem_events (problem_id, type, data) 
 SELECT pn.problem_id, 'notified', jsonb_build_object('notification', 'problem_recurred', 
  'notification_id', pn.id, 'audience', 'owner') 
 FROM pn JOIN pe ON pe.problem_id = pn.problem_id), 
te AS (INSERT INTO events (ticket_id, type, data) 
 SELECT pu.ticket_id, 'problem_linked', jsonb_build_object('problem_id', pu.id, 
  'waiting_on_problem', false, 'via', 'recurrence') FROM pu JOIN e ON e.ticket_id = pu.ticket_id), 
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
SELECT 
t.id, t.tier, t.state, t.severity, t.channel, t.category, t.subject, t.description, 
t.customer_name_masked AS customer_name, t.customer_phone_masked AS customer_phone, 
t.customer_email_masked AS customer_email, 
t.customer_id_number_masked AS customer_id_number, 
t.customer_bank_card_masked AS customer_bank_card, 
t.external_ref, t.assignee_id, a.name AS assignee_name, t.root_cause, t.resolution, 
t.sat_result, t.sat_score, t.sat_feedback, t.created_at, t.acknowledged_at, 
t.resolved_at, t.closed_at, t.ack_due_at, t.resolve_due_at, t.callback_due_at, 
t.breaches, t.version, t.promised_at, t.promise_solution, t.promise_tier, t.promise_by, 
t.problem_id, t.waiting_on_problem, least(t.ack_due_at, t.warn_due_at, t.resolve_due_at) AS first_due, 
 (SELECT count(*) FROM nf) AS notified FROM t LEFT JOIN principals a ON a.id = t.assignee_id;
