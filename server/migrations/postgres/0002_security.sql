-- Email verification, throttles, and API keys that never outlive or outrank their creator.
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
CREATE TABLE email_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);
-- Not tenant tables: a token's user, and counts under hashed keys (an account, an address).
CREATE TABLE throttles (
    key TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    hits BIGINT NOT NULL
);
GRANT SELECT, INSERT, UPDATE, DELETE ON email_tokens, throttles TO scry_app;

-- Keys made by someone no longer a member (or by another key) go; the others are capped at
-- their creator's role. Row-level security is lifted for this statement only: it is forced
-- even on the tables' owner.
ALTER TABLE api_keys NO FORCE ROW LEVEL SECURITY;
ALTER TABLE memberships NO FORCE ROW LEVEL SECURITY;
DELETE FROM api_keys WHERE NOT EXISTS (
    SELECT 1 FROM memberships m WHERE m.org_id = api_keys.org_id AND m.user_id = api_keys.created_by
);
UPDATE api_keys SET role = m.role FROM memberships m
WHERE m.org_id = api_keys.org_id AND m.user_id = api_keys.created_by
  AND array_position(ARRAY['viewer','member','admin','owner'], m.role)
    < array_position(ARRAY['viewer','member','admin','owner'], api_keys.role);
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
