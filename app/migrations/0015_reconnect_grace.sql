-- Reconnect grace: how long (seconds) a group's live session waits for its publisher to come
-- back after its connection dropped; NULL is the server's default (`--reconnect-grace-s`).
ALTER TABLE stream_groups ADD COLUMN reconnect_grace_s INTEGER;
