-- 007_principals: principals managed over HTTP (docs/api.md "Principals",
-- docs/security.md "Tokens and principals").
--  1. principals.expires_at: a token may end by itself.  The daemon checks
--     it, with revoked_at, on every request against the database's clock.
--  2. principal_audit: every change to a principal (created, revoked,
--     rotated), by whom (actor_id NULL: the command line) and through what,
--     written in the transaction that makes the change.  Append-only,
--     enforced by triggers as the ticket history is.
--  3. A revoked principal stays revoked: no statement may change its row
--     again (a revocation that could be undone would not be one).
--  4. The principals made before this migration get their audit records
--     from their columns (via 'migration'), so that every principal's
--     record starts with its creation.
ALTER TABLE principals ADD COLUMN expires_at timestamptz;

CREATE TABLE principal_audit (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor_id     bigint REFERENCES principals(id),
    principal_id bigint NOT NULL REFERENCES principals(id),
    action       text NOT NULL CHECK (action IN ('created', 'revoked', 'rotated')),
    via          text NOT NULL CHECK (via IN ('http', 'cli', 'migration')),
    detail       jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX principal_audit_principal ON principal_audit (principal_id, id);

CREATE FUNCTION escalated_principal_audit_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the principal audit is append-only: % is not allowed on %', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER principal_audit_append_only BEFORE UPDATE OR DELETE ON principal_audit
    FOR EACH ROW EXECUTE FUNCTION escalated_principal_audit_is_append_only();
CREATE TRIGGER principal_audit_no_truncate BEFORE TRUNCATE ON principal_audit
    FOR EACH STATEMENT EXECUTE FUNCTION escalated_principal_audit_is_append_only();

CREATE FUNCTION escalated_principal_revoked_is_final() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'principal % is revoked: its row may not change', OLD.id
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER principals_revoked_is_final BEFORE UPDATE ON principals
    FOR EACH ROW WHEN (OLD.revoked_at IS NOT NULL)
    EXECUTE FUNCTION escalated_principal_revoked_is_final();

INSERT INTO principal_audit (at, principal_id, action, via, detail)
SELECT created_at, id, 'created', 'migration',
       jsonb_build_object('name', name, 'role', role, 'tier', 'line-' || tier, 'expires_at', NULL)
FROM principals ORDER BY id;
INSERT INTO principal_audit (at, principal_id, action, via)
SELECT revoked_at, id, 'revoked', 'migration' FROM principals WHERE revoked_at IS NOT NULL ORDER BY id;
