-- Server admins (set by the operator's CLI) see the server's status page: the machine, every
-- live session, recent failures and retention runs, across organisations.
ALTER TABLE users ADD COLUMN is_server_admin BOOLEAN NOT NULL DEFAULT FALSE;
