-- Account security: ending every session of a user at once, password resets,
-- the notification outbox, and signing keys that start signing later.

-- session_version is carried in every access token ("sv"); bumping it (a
-- password change or reset, disabling the user) makes the user's live access
-- tokens stop working, as their refresh tokens are revoked in the same
-- transaction.
ALTER TABLE users ADD COLUMN session_version bigint NOT NULL DEFAULT 0;

-- Single-use, expiring password reset tokens, stored as SHA-256 hashes.
CREATE TABLE password_resets (
    token_hash bytea PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id);

-- What central would tell a user (a password reset link, ...) when no mail
-- transport is configured: admins read it here and pass it on.
CREATE TABLE notification_outbox (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    uuid REFERENCES users (id) ON DELETE SET NULL,
    email      text NOT NULL,
    kind       text NOT NULL,
    body       text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX notification_outbox_time_idx ON notification_outbox (created_at, id);
