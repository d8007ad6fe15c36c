-- The foundation schema: organisations and their packages, users, memberships, login
-- sessions, stream groups, streams, stream keys, processing settings with their change
-- history, live sessions and assets. Times are RFC 3339 UTC text.

CREATE TABLE organisations (
    id          INTEGER PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE organisation_packages (
    organisation_id INTEGER NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    package         TEXT NOT NULL CHECK (package IN ('live_processing', 'transcoding')),
    enabled_at      TEXT NOT NULL,
    PRIMARY KEY (organisation_id, package)
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL
);

CREATE TABLE memberships (
    organisation_id INTEGER NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role            TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
    created_at      TEXT NOT NULL,
    PRIMARY KEY (organisation_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships(user_id);

CREATE TABLE login_sessions (
    id              INTEGER PRIMARY KEY,
    token_hash      BLOB NOT NULL UNIQUE,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    organisation_id INTEGER NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL
);

CREATE TABLE stream_groups (
    id              INTEGER PRIMARY KEY,
    organisation_id INTEGER NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    created_by      INTEGER REFERENCES users(id) ON DELETE SET NULL
);
CREATE INDEX stream_groups_by_org ON stream_groups(organisation_id);

CREATE TABLE streams (
    id                 INTEGER PRIMARY KEY,
    group_id           INTEGER NOT NULL REFERENCES stream_groups(id) ON DELETE CASCADE,
    role               TEXT NOT NULL CHECK (role IN ('ingest', 'profile')),
    position           INTEGER NOT NULL,
    name               TEXT NOT NULL,
    quality            TEXT NOT NULL,
    width              INTEGER,
    height             INTEGER,
    video_kbps         INTEGER,
    created_at         TEXT NOT NULL,
    UNIQUE (group_id, position)
);
CREATE UNIQUE INDEX streams_one_ingest_per_group ON streams(group_id) WHERE role = 'ingest';

CREATE TABLE stream_keys (
    id          INTEGER PRIMARY KEY,
    stream_id   INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
    key         TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE UNIQUE INDEX stream_keys_one_active ON stream_keys(stream_id) WHERE revoked_at IS NULL;

CREATE TABLE processing_settings (
    stream_id     INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
    process       TEXT NOT NULL CHECK (process IN ('thumbnail', 'motion_clip', 'recording', 'replay')),
    enabled       INTEGER NOT NULL,
    interval_s    INTEGER,
    -- NULL together with entire_stream = 1 means "the entire stream"
    duration_s    INTEGER,
    entire_stream INTEGER NOT NULL DEFAULT 0,
    version       INTEGER NOT NULL DEFAULT 1,
    updated_at    TEXT NOT NULL,
    updated_by    INTEGER REFERENCES users(id) ON DELETE SET NULL,
    PRIMARY KEY (stream_id, process)
);

-- Who changed which setting, when, from what to what (kept for auditors).
CREATE TABLE settings_changes (
    id          INTEGER PRIMARY KEY,
    stream_id   INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
    process     TEXT NOT NULL,
    field       TEXT NOT NULL,
    old_value   TEXT NOT NULL,
    new_value   TEXT NOT NULL,
    changed_by  INTEGER REFERENCES users(id) ON DELETE SET NULL,
    changed_by_email TEXT NOT NULL,
    changed_at  TEXT NOT NULL
);
CREATE INDEX settings_changes_by_stream ON settings_changes(stream_id, changed_at);

CREATE TABLE live_sessions (
    id          INTEGER PRIMARY KEY,
    group_id    INTEGER NOT NULL REFERENCES stream_groups(id) ON DELETE CASCADE,
    started_at  TEXT NOT NULL,
    ended_at    TEXT,
    end_reason  TEXT,
    remote_addr TEXT
);
CREATE UNIQUE INDEX live_sessions_one_open_per_group ON live_sessions(group_id) WHERE ended_at IS NULL;

CREATE TABLE assets (
    id              INTEGER PRIMARY KEY,
    organisation_id INTEGER NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    stream_id       INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
    session_id      INTEGER REFERENCES live_sessions(id) ON DELETE SET NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('thumbnail', 'motion_clip', 'recording', 'replay')),
    format          TEXT NOT NULL,
    -- relative to the data folder
    path            TEXT NOT NULL UNIQUE,
    size_bytes      INTEGER NOT NULL,
    duration_ms     INTEGER,
    width           INTEGER,
    height          INTEGER,
    integrity       TEXT CHECK (integrity IN ('ok', 'repaired', 'partial')),
    created_at      TEXT NOT NULL
);
CREATE INDEX assets_by_stream ON assets(stream_id, kind, created_at);
CREATE INDEX assets_by_session ON assets(session_id);
