-- Each wrapped copy of the org's data key carries the key's check (a one-way hash of it): all
-- copies of an epoch share the first one's, so a copy of another key is refused, and a device
-- that restores the key from a recovery key may give itself a copy by presenting it.
ALTER TABLE wrapped_keys ADD COLUMN key_check TEXT NOT NULL DEFAULT '';
