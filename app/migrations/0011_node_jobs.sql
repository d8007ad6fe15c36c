-- What each node's live jobs are doing (JSON, written with its heartbeat), so that any
-- node's dashboard shows the job states of streams live on another.
ALTER TABLE nodes ADD COLUMN jobs TEXT;
