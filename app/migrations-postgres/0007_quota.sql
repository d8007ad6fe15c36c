-- An organisation's storage quota in bytes, set by the operator (NULL: the server's default,
-- which may be none).
ALTER TABLE organisations ADD COLUMN storage_quota_bytes BIGINT CHECK (storage_quota_bytes > 0);
