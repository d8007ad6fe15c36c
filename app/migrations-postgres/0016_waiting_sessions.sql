-- A session whose publisher dropped and whose node has finished that epoch's files: it waits
-- for the publisher within the reconnect grace, and any node the publisher reaches may
-- continue it (one epoch on). NULL while the session is live (or its dropped epoch is still
-- finishing).
ALTER TABLE live_sessions ADD COLUMN waiting_since TIMESTAMPTZ;
