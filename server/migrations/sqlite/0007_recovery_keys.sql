-- The key epoch whose recovery key an owner wrote down: each epoch's is printed once (who and
-- when are in the audit log), so the org knows how many copies of its key exist on paper.
ALTER TABLE orgs ADD COLUMN recovery_epoch BIGINT;
