-- Key distribution for sync: the public keys (X25519) a member's device or an API key
-- registers, and the org's data key wrapped to each of them by a client that holds it. The
-- service never holds the data key. `key_epoch` grows when someone who could hold it leaves
-- (a member removed, an API key revoked): clients then make the next epoch's key.
ALTER TABLE orgs ADD COLUMN key_epoch BIGINT NOT NULL DEFAULT 1;
CREATE TABLE recipients (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    public_key TEXT NOT NULL,
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (org_id, public_key)
);
CREATE TABLE wrapped_keys (
    org_id TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    recipient TEXT NOT NULL,
    wrapped TEXT NOT NULL,
    wrapped_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, epoch, recipient)
);
