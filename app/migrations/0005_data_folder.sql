-- The data folder this database belongs to (its id is also in the folder's `.identity`
-- file), and what start-up repair could not settle and moved aside instead of deleting.
CREATE TABLE instance (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE quarantine (
    id               INTEGER PRIMARY KEY,
    -- the organisation whose media folder it came from, when known
    organisation_id  INTEGER REFERENCES organisations(id) ON DELETE SET NULL,
    -- both relative to the data folder
    original_path    TEXT NOT NULL,
    quarantine_path  TEXT NOT NULL,
    reason           TEXT NOT NULL,
    size_bytes       INTEGER NOT NULL,
    created_at       TEXT NOT NULL
);
CREATE INDEX quarantine_by_org ON quarantine(organisation_id, id);
