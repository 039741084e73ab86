-- Hosted search (opt-in per repository): the branch served, and the code its clients publish,
-- readable by the service: one blob per distinct text (its BLAKE3 hash the id) and the files
-- of the tree served. Turning it off deletes both.
ALTER TABLE repos ADD COLUMN hosted_branch TEXT;
ALTER TABLE repos ADD COLUMN hosted_generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE repos ADD COLUMN hosted_at BIGINT;
CREATE TABLE hosted_blobs (
    org_id TEXT NOT NULL,
    repo_id TEXT NOT NULL,
    id TEXT NOT NULL,
    body BYTEA NOT NULL,
    bytes BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, repo_id, id)
);
CREATE TABLE hosted_files (
    org_id TEXT NOT NULL,
    repo_id TEXT NOT NULL,
    path TEXT NOT NULL,
    blob_id TEXT NOT NULL,
    PRIMARY KEY (org_id, repo_id, path)
);
ALTER TABLE hosted_blobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE hosted_blobs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON hosted_blobs USING (org_id = current_setting('app.org_id', true)) WITH CHECK (org_id = current_setting('app.org_id', true));
ALTER TABLE hosted_files ENABLE ROW LEVEL SECURITY;
ALTER TABLE hosted_files FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON hosted_files USING (org_id = current_setting('app.org_id', true)) WITH CHECK (org_id = current_setting('app.org_id', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON hosted_blobs, hosted_files TO scry_app;
