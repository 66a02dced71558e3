-- Voice timers, so that they outlive the central process that runs them
-- (ADR 0012). A running timer keeps its wall-clock end, a paused one the
-- time it had left; exactly one of the two is set.
CREATE TABLE timers (
    id         text PRIMARY KEY CHECK (char_length(id) BETWEEN 1 AND 64),
    home_id    uuid NOT NULL REFERENCES homes (id) ON DELETE CASCADE,
    -- the voice device's id, or user:<id> for a user without one
    owner      text NOT NULL CHECK (char_length(owner) BETWEEN 1 AND 128),
    name       text NOT NULL CHECK (char_length(name) <= 1000),
    area       text NOT NULL CHECK (char_length(area) <= 1000),
    start_ms   bigint NOT NULL CHECK (start_ms > 0 AND start_ms <= 604800000),
    ends_at    timestamptz,
    left_ms    bigint CHECK (left_ms >= 0 AND left_ms <= 604800000),
    -- the sentence carried out when it finishes, empty for none
    command    text NOT NULL CHECK (char_length(command) <= 1000),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((ends_at IS NULL) <> (left_ms IS NULL))
);
-- Deleting a home deletes its timers.
CREATE INDEX timers_home_idx ON timers (home_id);
