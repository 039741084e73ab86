-- A leaf object holds the chunk records of one file and declares how many (which the quota
-- counts), rather than one chunk each: fewer bytes per chunk, far fewer objects. Leaves stored
-- before this held one chunk each.
ALTER TABLE index_objects ADD COLUMN chunks BIGINT NOT NULL DEFAULT 0;
UPDATE index_objects SET chunks = 1, kind = 'records' WHERE kind = 'chunk';
