-- 012_problems: problems (the quality department's corrective and preventive
-- action request, "纠正和预防措施要求单"), their corrective and preventive
-- actions, and the links from complaints to them (issue 10, items 1 to 4;
-- docs/problems.md).
--
-- A problem moves open -> root_cause_found -> action_planned -> fixed ->
-- verifying -> closed, or back to open when the fix did not hold.  Every
-- change is one transaction that updates the row (version + 1) and appends
-- to problem_events, append-only like the tickets' events.

CREATE TABLE problems (
    id                      bigserial PRIMARY KEY,
    title                   text NOT NULL CHECK (length(title) BETWEEN 1 AND 400),
    description             text NOT NULL DEFAULT '',
    category                text CHECK (length(category) <= 96),
    owner_id                bigint NOT NULL REFERENCES principals(id),
    state                   text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'root_cause_found',
                                'action_planned', 'fixed', 'verifying', 'closed')),
    version                 integer NOT NULL DEFAULT 1,
    -- root_cause_found: the cause (free text), its class as the tickets'
    -- root_cause names it (given to the tickets the fix resolves), the
    -- containment, and the workaround (published to the linked tickets)
    root_cause              text,
    root_cause_kind         text CHECK (root_cause_kind IN ('customer_side', 'operations',
                                'product_defect', 'other')),
    containment             text,
    workaround              text,
    workaround_published_at timestamptz,
    fix                     text,
    fixed_at                timestamptz,
    -- verification by recurrence (issue 10 item 4): the window starts when the
    -- problem enters verifying; new complaints that match the signature
    -- (category, plus any of the keywords) are linked and counted
    verify_started_at       timestamptz,
    verify_window_days      integer NOT NULL DEFAULT 30 CHECK (verify_window_days BETWEEN 1 AND 3650),
    verify_until            timestamptz,
    signature_keywords      text[] NOT NULL DEFAULT '{}',
    recurrences             integer NOT NULL DEFAULT 0,
    closed_effective        boolean,
    closed_at               timestamptz,
    reopened_count          integer NOT NULL DEFAULT 0,
    pii_sealed              text,   -- the free-text findings (as tickets.pii_sealed, migration 008)
    created_by              bigint REFERENCES principals(id),
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    root_cause_at           timestamptz
);
CREATE INDEX problems_state ON problems (state, id);
CREATE INDEX problems_owner ON problems (owner_id, id);
CREATE INDEX problems_category ON problems (category, id);

CREATE TABLE problem_events (
    id          bigserial PRIMARY KEY,
    problem_id  bigint NOT NULL REFERENCES problems(id),
    type        text NOT NULL CHECK (type IN ('created', 'root_cause_found', 'action_added',
                    'action_planned', 'action_completed', 'action_breached', 'workaround_published',
                    'fixed', 'verifying', 'recurrence', 'closed', 'reopened', 'ticket_linked',
                    'ticket_unlinked', 'notified')),
    at          timestamptz NOT NULL DEFAULT now(),
    actor_id    bigint REFERENCES principals(id),
    from_state  text,
    to_state    text,
    reason      text,
    data        jsonb,
    pii_sealed  text
);
CREATE INDEX problem_events_problem ON problem_events (problem_id, id);
CREATE TRIGGER problem_events_append_only BEFORE UPDATE OR DELETE ON problem_events
    FOR EACH ROW EXECUTE FUNCTION escalated_history_is_append_only();
CREATE TRIGGER problem_events_no_truncate BEFORE TRUNCATE ON problem_events
    FOR EACH STATEMENT EXECUTE FUNCTION escalated_history_is_append_only();

CREATE TABLE problem_actions (
    id           bigserial PRIMARY KEY,
    problem_id   bigint NOT NULL REFERENCES problems(id),
    kind         text NOT NULL CHECK (kind IN ('corrective', 'preventive')),
    description  text NOT NULL CHECK (length(description) >= 1),
    owner_id     bigint NOT NULL REFERENCES principals(id),
    due_at       timestamptz NOT NULL,
    created_by   bigint REFERENCES principals(id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    completed_by bigint REFERENCES principals(id),
    breached     boolean NOT NULL DEFAULT false,
    pii_sealed   text,
    CHECK ((completed_at IS NULL) = (completed_by IS NULL))
);
CREATE INDEX problem_actions_problem ON problem_actions (problem_id, id);

-- An action's due date is a deadline of the SLA engine.  A row exists only
-- while the action is undone and its due date has not fired (as timers for
-- tickets); the engine fires it in the same pass as the tickets' timers and
-- sleeps until the earliest of both tables (db/store_sla.c).
CREATE TABLE action_timers (
    action_id  bigint PRIMARY KEY REFERENCES problem_actions(id),
    problem_id bigint NOT NULL REFERENCES problems(id),
    due_at     timestamptz NOT NULL
);
CREATE INDEX action_timers_due ON action_timers (due_at);

-- A complaint belongs to at most one problem.  waiting_on_problem: the
-- complaint waits for the problem's fix, which resolves it (docs/problems.md).
ALTER TABLE tickets ADD COLUMN problem_id bigint REFERENCES problems(id),
    ADD COLUMN waiting_on_problem boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT tickets_waiting_needs_problem CHECK (problem_id IS NOT NULL OR NOT waiting_on_problem);
CREATE INDEX tickets_problem ON tickets (problem_id, id) WHERE problem_id IS NOT NULL;

-- The tickets' history learns of their problem (010's
-- escalated_allow_event_types adds to whatever list the constraint holds).
SELECT escalated_allow_event_types('problem_linked', 'problem_unlinked', 'workaround');

-- Breaches of actions: a breach is about a ticket or about an action,
-- exactly one of them; tier and severity are a ticket's and stay NULL for
-- an action.
ALTER TABLE breaches ALTER COLUMN ticket_id DROP NOT NULL,
    ALTER COLUMN tier DROP NOT NULL,
    ALTER COLUMN severity DROP NOT NULL,
    ADD COLUMN problem_id bigint REFERENCES problems(id),
    ADD COLUMN action_id bigint REFERENCES problem_actions(id),
    ADD CONSTRAINT breaches_one_target CHECK (num_nonnulls(ticket_id, action_id) = 1
        AND (action_id IS NULL) = (problem_id IS NULL)
        AND (ticket_id IS NULL OR (tier IS NOT NULL AND severity IS NOT NULL)));
CREATE UNIQUE INDEX breaches_action ON breaches (action_id) WHERE action_id IS NOT NULL;

-- Notifications about a problem (an action's breach) carry no ticket.
ALTER TABLE notifications ALTER COLUMN ticket_id DROP NOT NULL,
    ADD COLUMN problem_id bigint REFERENCES problems(id),
    ADD CONSTRAINT notifications_one_target CHECK (num_nonnulls(ticket_id, problem_id) = 1);
CREATE INDEX notifications_problem ON notifications (problem_id) WHERE problem_id IS NOT NULL;
