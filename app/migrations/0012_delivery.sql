-- Public delivery of a stream: while `public`, anyone holding the token reads the stream's
-- latest thumbnail and motion clip and its live replay under /p/<token>/ (for websites to
-- embed). Rotating replaces the token, so the old URLs stop at once. The token is kept as
-- it is: the dashboard shows the public URLs, which are meant to be published.
CREATE TABLE stream_delivery (
    stream_id   INTEGER PRIMARY KEY REFERENCES streams(id) ON DELETE CASCADE,
    public      INTEGER NOT NULL DEFAULT 0,
    token       TEXT NOT NULL UNIQUE,
    updated_at  TEXT NOT NULL
);

-- Keys an organisation signs its own expiring media URLs with (HMAC-SHA256, scheme in the
-- README). The secret is kept to verify signatures; it is shown to the admin once.
CREATE TABLE signing_keys (
    id              INTEGER PRIMARY KEY,
    organisation_id INTEGER NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    -- public, in every signed URL
    key_id          TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    secret          TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    revoked_at      TEXT
);
CREATE INDEX signing_keys_by_org ON signing_keys(organisation_id);
