-- bench/reports-load.sql — :n tickets spread evenly over the 365 days up to
-- now (inserted in time order, as a live system inserts them), in every state,
-- with the first-acknowledgement, resolution and close times, breaches,
-- categories (skewed; some Chinese, some none), root causes and satisfaction
-- a year of a busy helpdesk would have; and their history (created,
-- acknowledged, resolved, closed events: ~3 per ticket).  Used by
-- bench/reports.sh; psql -v n=1000000 -f bench/reports-load.sql.

\set ON_ERROR_STOP on
SET synchronous_commit = off;

INSERT INTO principals (name, role, tier, token_hash)
VALUES ('bench agent', 'agent', 1, md5(clock_timestamp()::text || random()::text))
RETURNING id AS agent_id \gset

INSERT INTO tickets (tier, state, severity, channel, category, subject, created_at,
                     first_acknowledged_at, acknowledged_at, resolved_at, closed_at, root_cause,
                     resolution, resolver_id, resolved_tier, sat_result, sat_score, breaches,
                     assignee_id, version)
SELECT tier, state, severity, 'phone', category, 'bench ' || i, c, fa, fa, ra, ca,
       CASE WHEN ra IS NOT NULL THEN (ARRAY['customer_side', 'operations', 'product_defect', 'other'])[1 + (i % 4)] END,
       CASE WHEN ra IS NOT NULL THEN 'fixed' END,
       CASE WHEN ra IS NOT NULL THEN :agent_id END,
       CASE WHEN ra IS NOT NULL THEN tier END,
       CASE WHEN ca IS NOT NULL THEN CASE WHEN u3 < 0.9 THEN 'satisfied' ELSE 'unsatisfied' END END,
       CASE WHEN ca IS NOT NULL THEN CASE WHEN u3 < 0.9 THEN 4 + (i % 2) ELSE 1 + (i % 3) END END,
       array_remove(ARRAY[CASE WHEN fa IS NULL AND c < now() - interval '10 minutes'
                                 OR fa - c > interval '10 minutes' THEN 'ack' END,
                          CASE WHEN coalesce(ra, now()) - c > CASE severity WHEN 'major' THEN interval '48 hours'
                                                                            ELSE interval '24 hours' END
                               THEN 'resolve' END], NULL),
       CASE WHEN fa IS NOT NULL THEN :agent_id END,
       3
FROM (
    SELECT i, c, tier, state, severity, category, u3,
           CASE WHEN state <> 'awaiting_ack' THEN c + u1 * interval '20 minutes' END AS fa,
           CASE WHEN state IN ('resolved', 'closed') THEN c + interval '5 minutes' + u2 * u2 * interval '60 hours' END AS ra,
           CASE WHEN state = 'closed' THEN c + interval '5 minutes' + u2 * u2 * interval '60 hours' + interval '1 day' END AS ca
    FROM (
        SELECT i,
               now() - interval '365 days' + (i::float8 / :n) * interval '365 days' AS c,
               CASE WHEN s < 0.70 THEN 1 WHEN s < 0.92 THEN 2 ELSE 3 END AS tier,
               CASE WHEN st < 0.03 THEN 'awaiting_ack' WHEN st < 0.08 THEN 'acknowledged'
                    WHEN st < 0.10 THEN 'waiting_customer' WHEN st < 0.25 THEN 'resolved'
                    ELSE 'closed' END AS state,
               CASE WHEN v < 0.08 THEN 'major' ELSE 'normal' END AS severity,
               CASE WHEN k < 0.05 THEN NULL
                    ELSE (ARRAY['broadband', 'billing', 'attitude', 'skill', 'ethics', 'property_damage',
                                'installation', 'mobile_signal', 'roaming', 'refund', '宽带断网', '话费争议',
                                '服务态度', 'contract', 'privacy', 'delivery', 'hardware', 'iptv', 'porting',
                                'outage, regional', 'other "misc"', 'sim_card', 'app', 'website'])
                         [1 + floor(power(k, 2) * 24)::int] END AS category,
               u1, u2, u3
        FROM (SELECT i, random() AS s, random() AS st, random() AS v, random() AS k,
                     random() AS u1, random() AS u2, random() AS u3
              FROM generate_series(1, :n) AS i) r
    ) a
) b
ORDER BY i;

INSERT INTO events (ticket_id, type, at, actor_id, to_tier, to_state)
SELECT id, 'created', created_at, NULL, 1, 'awaiting_ack' FROM tickets ORDER BY id;
INSERT INTO events (ticket_id, type, at, actor_id, from_state, to_state)
SELECT id, 'acknowledged', first_acknowledged_at, :agent_id, 'awaiting_ack', 'acknowledged'
FROM tickets WHERE first_acknowledged_at IS NOT NULL ORDER BY id;
INSERT INTO events (ticket_id, type, at, actor_id, from_state, to_state, data)
SELECT id, 'resolved', resolved_at, :agent_id, 'acknowledged', 'resolved',
       jsonb_build_object('resolution', resolution, 'root_cause', root_cause)
FROM tickets WHERE resolved_at IS NOT NULL ORDER BY id;
INSERT INTO events (ticket_id, type, at, actor_id, from_state, to_state)
SELECT id, 'closed', closed_at, :agent_id, 'resolved', 'closed'
FROM tickets WHERE closed_at IS NOT NULL ORDER BY id;

VACUUM ANALYZE tickets;
VACUUM ANALYZE events;
