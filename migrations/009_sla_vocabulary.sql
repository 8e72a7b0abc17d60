-- 009_sla_vocabulary: the SLA vocabulary of issue 10, in one step so that the
-- features built on it (promised times, problems' actions) can land in any
-- order.  core/model.h lists the same names; each new pooled connection
-- checks that these CHECK lists and the model agree (db/store.c).
--   timers.kind   + 'promise': the time an assignee promised a solution by;
--   breaches.kind + 'promise': that time passed with the ticket unresolved;
--                 + 'action':  a problem's corrective or preventive action
--                              passed its due date undone.
ALTER TABLE timers DROP CONSTRAINT timers_kind_check,
    ADD CONSTRAINT timers_kind_check
        CHECK (kind IN ('ack', 'resolve', 'warn', 'callback', 'promise'));
ALTER TABLE breaches DROP CONSTRAINT breaches_kind_check,
    ADD CONSTRAINT breaches_kind_check
        CHECK (kind IN ('ack', 'resolve', 'callback', 'promise', 'action'));
