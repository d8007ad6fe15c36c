-- Share links for recordings too: a link opens a clip, or an asset (a live replay, or a
-- recording file), or with `whole_session` every recording file of that asset's stream and
-- session, in order.
ALTER TABLE share_links RENAME COLUMN replay_asset_id TO asset_id;
ALTER TABLE share_links ADD COLUMN whole_session INTEGER NOT NULL DEFAULT 0;
