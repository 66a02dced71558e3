-- A registration waits here until its owner confirms it with the token
-- sent to the address (ADR 0027): only the token's SHA-256 is kept, and the
-- account exists only once confirmed, so an unconfirmed address claims
-- nothing.
CREATE TABLE pending_registrations (
    token_hash    bytea PRIMARY KEY,
    email         text NOT NULL,
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL
);
CREATE INDEX pending_registrations_expires_idx ON pending_registrations (expires_at);
