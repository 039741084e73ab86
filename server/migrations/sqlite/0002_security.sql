-- Email verification, throttles, and API keys that never outlive or outrank their creator.
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
CREATE TABLE email_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);
CREATE TABLE throttles (
    key TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    hits BIGINT NOT NULL
);
-- Keys made by someone no longer a member (or by another key) go; the others are capped at
-- their creator's role.
DELETE FROM api_keys WHERE NOT EXISTS (
    SELECT 1 FROM memberships m WHERE m.org_id = api_keys.org_id AND m.user_id = api_keys.created_by
);
UPDATE api_keys SET role = (
    SELECT m.role FROM memberships m WHERE m.org_id = api_keys.org_id AND m.user_id = api_keys.created_by
) WHERE (
    SELECT CASE m.role WHEN 'viewer' THEN 0 WHEN 'member' THEN 1 WHEN 'admin' THEN 2 ELSE 3 END
    FROM memberships m WHERE m.org_id = api_keys.org_id AND m.user_id = api_keys.created_by
) < CASE api_keys.role WHEN 'viewer' THEN 0 WHEN 'member' THEN 1 WHEN 'admin' THEN 2 ELSE 3 END;
