-- 013_problem_recurrence: verification by recurrence (issue 10 item 4;
-- docs/recurrence.md, docs/reports.md).
--
-- Every ticket create looks for a `verifying` problem whose signature the new
-- complaint matches (same category, plus any of its keywords), in the create's
-- own statement (db/store_tickets.c, ticket_create).  The create is the
-- hottest write, so the lookup must be one probe of a small partial index: it
-- holds only the problems being verified, keyed by category.
CREATE INDEX problems_verifying ON problems (category, verify_started_at, id)
    WHERE state = 'verifying';

-- A recurrence notifies the problem's owner through the outbox: a new
-- notification type, which webhooks may subscribe to, added to whatever the
-- two lists allow now (010's escalated_allow_names).
SELECT escalated_allow_names('notifications', 'notifications_type_check', 'problem_recurred');
SELECT escalated_allow_names('webhooks', 'webhooks_event_types_check', 'problem_recurred');
