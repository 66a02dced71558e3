-- Device pairing as in RFC 8628 (ADR 0034): a voice device asks for a
-- device code and a short user code, a person approves the user code for
-- one of their homes, and the device's next poll redeems the approval for
-- its device token, once. Only SHA-256 hashes of both codes are kept; the
-- user code's hash is unique among pairings still waiting for a decision.
CREATE TABLE device_pairings (
    device_code_hash bytea PRIMARY KEY,
    user_code_hash   bytea NOT NULL,
    client_name      text NOT NULL,
    state            text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'approved', 'denied', 'redeemed')),
    interval_seconds integer NOT NULL CHECK (interval_seconds > 0),
    created_at       timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    last_poll_at     timestamptz,
    -- Set by the decision: who approved or denied it, and for approval
    -- the home, name and area the device gets.
    decided_by       uuid REFERENCES users (id) ON DELETE CASCADE,
    decided_at       timestamptz,
    home_id          uuid REFERENCES homes (id) ON DELETE CASCADE,
    device_name      text,
    area             text
);
CREATE UNIQUE INDEX device_pairings_user_code_key ON device_pairings (user_code_hash) WHERE state = 'pending';
CREATE INDEX device_pairings_expires_idx ON device_pairings (expires_at);
