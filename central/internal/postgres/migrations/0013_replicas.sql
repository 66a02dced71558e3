-- What several central replicas on one database share (ADR 0025).

-- Idempotency keys: a retried Process or ControlInstance call gets the
-- first call's answer. A key belongs to one caller (scope "user:<id>" or
-- "device:<id>"); fingerprint is the request's hash, so a key reused for a
-- different request is refused. answer is NULL while the first call runs;
-- locked_until is when a retry may take that run over (its replica died).
CREATE TABLE idempotency_keys (
    scope        text NOT NULL CHECK (char_length(scope) BETWEEN 1 AND 200),
    key          text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 128),
    fingerprint  bytea NOT NULL CHECK (length(fingerprint) <= 64),
    answer       bytea CHECK (length(answer) <= 65536),
    locked_until timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);

-- Leases: one named job (the timers) runs on one replica at a time; a
-- holder renews before expires_at, another replica takes over after it.
CREATE TABLE leases (
    name       text PRIMARY KEY CHECK (char_length(name) BETWEEN 1 AND 64),
    holder     text NOT NULL CHECK (char_length(holder) BETWEEN 1 AND 128),
    expires_at timestamptz NOT NULL
);
