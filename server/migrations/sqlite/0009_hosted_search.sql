-- Hosted search (opt-in per repository): the branch served, and the code its clients publish,
-- readable by the service: one blob per distinct text (its BLAKE3 hash the id) and the files
-- of the tree served. Turning it off deletes both.
ALTER TABLE repos ADD COLUMN hosted_branch TEXT;
ALTER TABLE repos ADD COLUMN hosted_generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE repos ADD COLUMN hosted_at INTEGER;
CREATE TABLE hosted_blobs (
    org_id TEXT NOT NULL,
    repo_id TEXT NOT NULL,
    id TEXT NOT NULL,
    body BLOB NOT NULL,
    bytes INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, repo_id, id)
);
CREATE TABLE hosted_files (
    org_id TEXT NOT NULL,
    repo_id TEXT NOT NULL,
    path TEXT NOT NULL,
    blob_id TEXT NOT NULL,
    PRIMARY KEY (org_id, repo_id, path)
);
