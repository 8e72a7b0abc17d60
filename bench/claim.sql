-- bench/claim.sql: pgbench script for "claim the next ticket of a queue", the
-- daemon's S_CLAIM statement (lib/db/store_tickets.c) verbatim, one transaction.
-- Run with -M prepared; bench/run.sh passes the agent's principal id with
-- -D agent=ID (the same agent whose token bench/claim.lua sends).
-- run.sh checks that this text, with the variables mapped back to $n, equals
-- the daemon's statement (it fails on drift).
\set tier 1
WITH c AS (SELECT id, EXISTS (SELECT 1 FROM timers tm WHERE tm.ticket_id = tickets.id 
  AND tm.kind = 'ack' AND tm.due_at <= now()) AS overdue 
 FROM tickets WHERE state = 'awaiting_ack' AND tier = :tier::smallint 
  ORDER BY (severity = 'major') DESC, ack_due_at, id LIMIT 1 FOR UPDATE SKIP LOCKED), 
u AS (UPDATE tickets k SET state = 'acknowledged', assignee_id = :agent, 
  tier1_assignee_id = CASE WHEN k.tier = 1 THEN :agent ELSE k.tier1_assignee_id END, 
  tier2_assignee_id = CASE WHEN k.tier = 2 THEN :agent ELSE k.tier2_assignee_id END, 
  tier3_assignee_id = CASE WHEN k.tier = 3 THEN :agent ELSE k.tier3_assignee_id END, 
  acknowledged_at = now(), ack_due_at = NULL, version = k.version + 1, updated_at = now() 
 FROM c WHERE k.id = c.id AND NOT c.overdue RETURNING k.*), 
e AS (INSERT INTO events (ticket_id, type, actor_id, from_state, to_state, data) 
 SELECT id, 'acknowledged', :agent, 'awaiting_ack', 'acknowledged', '{"via": "claim"}' FROM u), 
d AS (DELETE FROM timers WHERE ticket_id IN (SELECT id FROM u) AND kind = 'ack') 
SELECT t.id, t.tier, t.state, t.severity, t.channel, t.category, t.subject, t.description, t.customer_name_masked AS customer_name, t.customer_phone_masked AS customer_phone, t.customer_email_masked AS customer_email, t.customer_id_number_masked AS customer_id_number, t.customer_bank_card_masked AS customer_bank_card, t.external_ref, t.assignee_id, a.name AS assignee_name, t.root_cause, t.resolution, t.sat_result, t.sat_score, t.sat_feedback, t.created_at, t.acknowledged_at, t.resolved_at, t.closed_at, t.ack_due_at, t.resolve_due_at, t.callback_due_at, t.breaches, t.version, t.promised_at, t.promise_solution, t.promise_tier, t.promise_by, t.problem_id, t.waiting_on_problem, (SELECT c.id FROM c WHERE c.overdue) AS overdue_id 
FROM (VALUES (1)) AS one (x) LEFT JOIN u t ON true LEFT JOIN principals a ON a.id = t.assignee_id;
