-- Index sync: sealed, content-addressed objects per repository, the tree edges between them
-- (ids only), each ref's current generation, upload sessions, and sync's own rate windows.
-- `live` counts an object's live parents plus the refs whose root it is: an object is part of
-- a committed generation exactly when it is above zero.
CREATE TABLE index_objects (
    org_id TEXT NOT NULL,
    repo_id TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    body BYTEA NOT NULL,
    live BIGINT NOT NULL,
    touched_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, repo_id, id)
);
CREATE INDEX index_objects_dead ON index_objects (org_id, repo_id, live, touched_at);
CREATE TABLE index_edges (
    org_id TEXT NOT NULL,
    repo_id TEXT NOT NULL,
    parent TEXT NOT NULL,
    child TEXT NOT NULL,
    PRIMARY KEY (org_id, repo_id, parent, child)
);
CREATE TABLE index_refs (
    org_id TEXT NOT NULL,
    repo_id TEXT NOT NULL,
    name TEXT NOT NULL,
    generation BIGINT NOT NULL,
    root TEXT NOT NULL,
    model TEXT NOT NULL,
    committed_by TEXT NOT NULL,
    committed_at BIGINT NOT NULL,
    session_id TEXT NOT NULL,
    PRIMARY KEY (org_id, repo_id, name)
);
CREATE TABLE index_sessions (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    repo_id TEXT NOT NULL,
    ref_name TEXT NOT NULL,
    root TEXT NOT NULL,
    chunks BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX index_sessions_by_repo ON index_sessions (org_id, repo_id, expires_at);
CREATE TABLE sync_rate_windows (
    org_id TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    hits BIGINT NOT NULL,
    PRIMARY KEY (org_id, window_start)
);

ALTER TABLE index_objects ENABLE ROW LEVEL SECURITY;
ALTER TABLE index_objects FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON index_objects USING (org_id = current_setting('app.org_id', true)) WITH CHECK (org_id = current_setting('app.org_id', true));

ALTER TABLE index_edges ENABLE ROW LEVEL SECURITY;
ALTER TABLE index_edges FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON index_edges USING (org_id = current_setting('app.org_id', true)) WITH CHECK (org_id = current_setting('app.org_id', true));

ALTER TABLE index_refs ENABLE ROW LEVEL SECURITY;
ALTER TABLE index_refs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON index_refs USING (org_id = current_setting('app.org_id', true)) WITH CHECK (org_id = current_setting('app.org_id', true));

ALTER TABLE index_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE index_sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON index_sessions USING (org_id = current_setting('app.org_id', true)) WITH CHECK (org_id = current_setting('app.org_id', true));

ALTER TABLE sync_rate_windows ENABLE ROW LEVEL SECURITY;
ALTER TABLE sync_rate_windows FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON sync_rate_windows USING (org_id = current_setting('app.org_id', true)) WITH CHECK (org_id = current_setting('app.org_id', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON index_objects, index_edges, index_refs, index_sessions, sync_rate_windows TO scry_app;
