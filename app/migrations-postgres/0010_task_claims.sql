-- Work that one node of a cluster does for all (retention, housekeeping): the node that
-- claimed it last and until when. Another node takes the claim over once it has run out.
CREATE TABLE task_claims (
    name     TEXT PRIMARY KEY,
    node_id  TEXT NOT NULL,
    until    TIMESTAMPTZ NOT NULL
);
