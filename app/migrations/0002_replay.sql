-- Replay: clips cut from a session's replay (their own playlist over hard links to the
-- replay's segments, so they outlive the rolling window) and share links that viewers open
-- without an account, for a clip or for a whole live replay.

CREATE TABLE clips (
    id              INTEGER PRIMARY KEY,
    organisation_id INTEGER NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    stream_id       INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
    session_id      INTEGER REFERENCES live_sessions(id) ON DELETE SET NULL,
    replay_asset_id INTEGER REFERENCES assets(id) ON DELETE SET NULL,
    title           TEXT NOT NULL,
    -- the span actually covered (cut at segment boundaries)
    starts_at       TEXT NOT NULL,
    duration_ms     INTEGER NOT NULL,
    -- folder relative to the data folder: clip.m3u8, init.mp4, seg_*.m4s, poster.jpg, clip.mp4
    dir             TEXT NOT NULL UNIQUE,
    mp4_state       TEXT NOT NULL DEFAULT 'pending' CHECK (mp4_state IN ('pending', 'ready', 'failed')),
    mp4_size        INTEGER,
    has_poster      INTEGER NOT NULL DEFAULT 0,
    created_by      INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_by_email TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    -- the clip and its files are removed after this
    expires_at      TEXT
);
CREATE INDEX clips_by_stream ON clips(stream_id, created_at);
CREATE INDEX clips_by_expiry ON clips(expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE share_links (
    id              INTEGER PRIMARY KEY,
    organisation_id INTEGER NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    -- at least 128 random bits, URL-safe; the link is /s/<token>
    token           TEXT NOT NULL UNIQUE,
    clip_id         INTEGER REFERENCES clips(id) ON DELETE CASCADE,
    replay_asset_id INTEGER REFERENCES assets(id) ON DELETE CASCADE,
    title           TEXT NOT NULL,
    created_by      INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at      TEXT NOT NULL,
    expires_at      TEXT,
    revoked_at      TEXT,
    CHECK ((clip_id IS NULL) <> (replay_asset_id IS NULL))
);
CREATE INDEX share_links_by_clip ON share_links(clip_id);
CREATE INDEX share_links_by_replay ON share_links(replay_asset_id);
