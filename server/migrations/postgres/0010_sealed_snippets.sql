-- An org may have its members' syncs carry each chunk's text, sealed like the rest with the
-- org's key (the service still reads none of it), so org-wide search shows code and matches
-- its words for repositories not checked out. Off (0) by default.
ALTER TABLE orgs ADD COLUMN sealed_snippets BIGINT NOT NULL DEFAULT 0;
