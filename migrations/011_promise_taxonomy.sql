-- 011_promise_taxonomy: issue 10's promised times and complaint taxonomy.
--
-- Promised times: each tier that takes a complaint states a solution and a
-- time by which it will be done.  The ticket keeps the promise in force
-- (promised_at, promise_solution stored masked like other free text, who
-- made it and at which tier); the `promise` timer (009) fires at promised_at
-- and records a breach of kind `promise`.  Each promise is recorded in the
-- history as a `planned` event (or inside the acknowledged / escalated event
-- that carried it).
ALTER TABLE tickets ADD COLUMN promised_at timestamptz,
    ADD COLUMN promise_solution text,
    ADD COLUMN promise_by bigint REFERENCES principals(id),
    ADD COLUMN promise_tier smallint CHECK (promise_tier BETWEEN 1 AND 3);

-- The `planned` event (010's escalated_allow_event_types).
SELECT escalated_allow_event_types('planned');

-- The taxonomy: one document (its tree), the flat list of its codes (what a
-- create checks a category against, in the database, so that a PUT on one
-- daemon binds every daemon from its commit on) and, per code, its path
-- from the root (what the reports group by at a level).  `enforced` is false
-- until the first PUT: the default tree is offered, not imposed, so that
-- categories written before the taxonomy existed keep working.
CREATE TABLE taxonomy (
    id          smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    doc         jsonb NOT NULL,
    codes       text[] NOT NULL,
    paths       jsonb NOT NULL,
    enforced    boolean NOT NULL DEFAULT false,
    version     integer NOT NULL DEFAULT 1,
    updated_by  bigint REFERENCES principals(id),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Every version the taxonomy had, append-only like the events: who changed
-- it to what, and when.
CREATE TABLE taxonomy_history (
    version     integer PRIMARY KEY,
    doc         jsonb NOT NULL,
    enforced    boolean NOT NULL,
    updated_by  bigint REFERENCES principals(id),
    updated_at  timestamptz NOT NULL
);
CREATE TRIGGER taxonomy_history_append_only BEFORE UPDATE OR DELETE ON taxonomy_history
    FOR EACH ROW EXECUTE FUNCTION escalated_history_is_append_only();

-- The default: the categories of the complaint procedures.
INSERT INTO taxonomy (doc, codes, paths) VALUES (
    '[{"code": "staff", "name": {"zh": "员工", "en": "Staff"}, "children": [
        {"code": "staff.skill", "name": {"zh": "业务知识和技能", "en": "Knowledge and skill"}},
        {"code": "staff.attitude", "name": {"zh": "服务态度", "en": "Attitude"}},
        {"code": "staff.ethics", "name": {"zh": "职业道德", "en": "Ethics"}}]},
      {"code": "service_quality", "name": {"zh": "服务质量", "en": "Service quality"}},
      {"code": "property_damage", "name": {"zh": "财产损失", "en": "Property damage"}},
      {"code": "personal_injury", "name": {"zh": "人身伤害", "en": "Personal injury"}},
      {"code": "product_defect", "name": {"zh": "产品缺陷", "en": "Product defect"}},
      {"code": "other", "name": {"zh": "其他", "en": "Other"}}]',
    ARRAY['staff', 'staff.skill', 'staff.attitude', 'staff.ethics', 'service_quality',
          'property_damage', 'personal_injury', 'product_defect', 'other'],
    '{"staff": ["staff"], "staff.skill": ["staff", "staff.skill"],
      "staff.attitude": ["staff", "staff.attitude"], "staff.ethics": ["staff", "staff.ethics"],
      "service_quality": ["service_quality"], "property_damage": ["property_damage"],
      "personal_injury": ["personal_injury"], "product_defect": ["product_defect"],
      "other": ["other"]}');
INSERT INTO taxonomy_history (version, doc, enforced, updated_by, updated_at)
    SELECT version, doc, enforced, updated_by, updated_at FROM taxonomy;
