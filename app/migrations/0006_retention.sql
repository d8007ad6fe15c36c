-- Retention: a rule per asset kind, for an organisation (group_id 0: its defaults) or for
-- one of its stream groups (overriding the default for that kind). Neither limit set keeps
-- everything.
CREATE TABLE retention_rules (
    organisation_id INTEGER NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    group_id        INTEGER NOT NULL DEFAULT 0,
    kind            TEXT NOT NULL CHECK (kind IN ('thumbnail', 'motion_clip', 'recording', 'replay', 'clip')),
    keep_days       INTEGER CHECK (keep_days BETWEEN 1 AND 3650),
    keep_newest     INTEGER CHECK (keep_newest BETWEEN 1 AND 100000),
    PRIMARY KEY (organisation_id, group_id, kind)
);
CREATE TRIGGER retention_rules_of_deleted_groups AFTER DELETE ON stream_groups BEGIN
    DELETE FROM retention_rules WHERE group_id = OLD.id;
END;

-- Files whose rows retention has removed, until the files are gone too: a crash in between
-- is finished at the next start (so it leaves neither rows without files nor files without
-- rows). Paths are relative to the data folder; a folder is removed whole.
CREATE TABLE pending_deletions (
    id         INTEGER PRIMARY KEY,
    path       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- What retention removed, and why: the change history shows it.
CREATE TABLE retention_log (
    id              INTEGER PRIMARY KEY,
    organisation_id INTEGER NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    group_id        INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    items           INTEGER NOT NULL,
    bytes           INTEGER NOT NULL,
    reason          TEXT NOT NULL,
    at              TEXT NOT NULL
);
CREATE INDEX retention_log_by_group ON retention_log(group_id, id);
