-- The key epoch a ref was committed under: the first commit to a repository under a new key
-- retires the refs sealed under older ones.
ALTER TABLE index_refs ADD COLUMN epoch BIGINT NOT NULL DEFAULT 1;
