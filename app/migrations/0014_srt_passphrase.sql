-- SRT ingest: a stream group may require a passphrase (AES encryption of the publish).
ALTER TABLE stream_groups ADD COLUMN srt_passphrase TEXT;
