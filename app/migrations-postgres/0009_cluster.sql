-- Nodes: every server sharing this database, one per data folder (the folder's `.identity`
-- is the node's id). A node refreshes its heartbeat every few seconds; the dashboard and
-- load balancers read them.
CREATE TABLE nodes (
    id            TEXT PRIMARY KEY,
    http_url      TEXT,
    rtmp_url      TEXT,
    version       TEXT NOT NULL DEFAULT '',
    started_at    TIMESTAMPTZ NOT NULL,
    heartbeat_at  TIMESTAMPTZ NOT NULL,
    stopped_at    TIMESTAMPTZ,
    live_sessions BIGINT NOT NULL DEFAULT 0,
    load_1m       DOUBLE PRECISION,
    cpus          BIGINT
);
-- The one node of earlier versions is the data folder this database was used with.
INSERT INTO nodes (id, started_at, heartbeat_at, stopped_at)
    SELECT value, 'epoch', 'epoch', 'epoch' FROM instance WHERE key = 'data_folder_id';

-- A live session is owned through a lease: the node holding it, an epoch that grows at
-- every takeover (a node writes only while its epoch is the session's), and the heartbeat
-- that keeps the lease.
ALTER TABLE live_sessions ADD COLUMN node_id TEXT;
ALTER TABLE live_sessions ADD COLUMN epoch BIGINT NOT NULL DEFAULT 1;
ALTER TABLE live_sessions ADD COLUMN heartbeat_at TIMESTAMPTZ;
CREATE INDEX live_sessions_open_by_node ON live_sessions(node_id) WHERE ended_at IS NULL;
