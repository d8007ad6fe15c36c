-- Invitations: an admin invites an e-mail address with a role and passes on a single-use,
-- expiring link (only the token's SHA-256 is kept). The invitee accepts it: an existing
-- account by signing in, a new one by choosing its own password. Nobody but the invitee
-- ever knows an account's password.
CREATE TABLE invitations (
    id               INTEGER PRIMARY KEY,
    organisation_id  INTEGER NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    email            TEXT NOT NULL COLLATE NOCASE,
    role             TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
    token_hash       BLOB NOT NULL UNIQUE,
    invited_by       INTEGER REFERENCES users(id) ON DELETE SET NULL,
    invited_by_email TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    expires_at       TEXT NOT NULL,
    accepted_at      TEXT,
    accepted_by      INTEGER REFERENCES users(id) ON DELETE SET NULL,
    revoked_at       TEXT
);
CREATE INDEX invitations_by_org ON invitations(organisation_id, created_at);
CREATE INDEX login_sessions_by_user ON login_sessions(user_id);
