-- Accounts, homes, devices, agents, entity registries and the audit trail.

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL,
    password_hash text NOT NULL,
    role          text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email);

-- Ed25519 keys for access tokens: the newest signs, all verify.
CREATE TABLE signing_keys (
    kid        text PRIMARY KEY,
    seed       bytea NOT NULL CHECK (length(seed) = 32),
    created_at timestamptz NOT NULL
);

-- Refresh tokens, stored as SHA-256 hashes. A family is one login session;
-- every refresh rotates the token within its family.
CREATE TABLE refresh_tokens (
    token_hash        bytea PRIMARY KEY,
    family_id         uuid NOT NULL,
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at        timestamptz NOT NULL,
    expires_at        timestamptz NOT NULL,
    family_expires_at timestamptz NOT NULL,
    rotated_at        timestamptz,
    revoked_at        timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

CREATE TABLE homes (
    id         uuid PRIMARY KEY,
    owner_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX homes_owner_idx ON homes (owner_id, created_at);

CREATE TABLE enrollment_tokens (
    token_hash bytea PRIMARY KEY,
    home_id    uuid NOT NULL REFERENCES homes (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX enrollment_tokens_home_idx ON enrollment_tokens (home_id);

-- One agent per home; enrolling again replaces it.
CREATE TABLE agents (
    id          uuid PRIMARY KEY,
    home_id     uuid NOT NULL UNIQUE REFERENCES homes (id) ON DELETE CASCADE,
    secret_hash bytea NOT NULL,
    hostname    text NOT NULL,
    version     text NOT NULL,
    enrolled_at timestamptz NOT NULL
);

CREATE TABLE devices (
    id         uuid PRIMARY KEY,
    home_id    uuid NOT NULL REFERENCES homes (id) ON DELETE CASCADE,
    name       text NOT NULL,
    area       text NOT NULL,
    token_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX devices_home_idx ON devices (home_id, created_at);

-- The entity registry of each home as its agent last synced it.
CREATE TABLE entity_registries (
    home_id    uuid PRIMARY KEY REFERENCES homes (id) ON DELETE CASCADE,
    snapshot   jsonb,
    version    bigint NOT NULL DEFAULT 0,
    updated_at timestamptz
);

-- Audit records outlive the users, homes and devices they mention, so the ids
-- are plain text without foreign keys.
CREATE TABLE audit_records (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id  text NOT NULL,
    kind        text NOT NULL,
    user_id     text NOT NULL,
    home_id     text NOT NULL,
    device_id   text NOT NULL,
    time        timestamptz NOT NULL,
    text        text NOT NULL,
    intent      text NOT NULL,
    slots       jsonb,
    parser      text NOT NULL,
    executed    jsonb,
    answer      jsonb,
    outcome     text NOT NULL,
    error       text NOT NULL,
    parse_us    bigint NOT NULL,
    resolve_us  bigint NOT NULL,
    execute_us  bigint NOT NULL,
    total_us    bigint NOT NULL,
    llm_tokens  integer NOT NULL
);
CREATE INDEX audit_records_home_time_idx ON audit_records (home_id, time);
CREATE INDEX audit_records_request_idx ON audit_records (request_id);
CREATE INDEX audit_records_time_idx ON audit_records (time, id);
