-- Audit records move into monthly partitions (retention drops whole months)
-- and gain a hash chain: id is the record's position in the chain, assigned
-- under the audit_chain row lock, and hash covers the record and its
-- predecessor's hash. Rows of the old table keep their order; the writer
-- computes their hashes on its first commit ("sealing").

CREATE EXTENSION IF NOT EXISTS pg_trgm;

ALTER TABLE audit_records RENAME TO audit_records_0001;
DROP INDEX audit_records_home_time_idx;
DROP INDEX audit_records_request_idx;
DROP INDEX audit_records_time_idx;

CREATE TABLE audit_records (
    id          bigint NOT NULL,
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
    llm_tokens  integer NOT NULL,
    prev_hash   bytea,
    hash        bytea,
    PRIMARY KEY (time, id)
) PARTITION BY RANGE (time);
CREATE INDEX audit_records_id_idx ON audit_records (id);
CREATE INDEX audit_records_home_time_idx ON audit_records (home_id, time, id);
CREATE INDEX audit_records_user_time_idx ON audit_records (user_id, time, id);
CREATE INDEX audit_records_device_time_idx ON audit_records (device_id, time, id);
CREATE INDEX audit_records_intent_time_idx ON audit_records (intent, time, id);
CREATE INDEX audit_records_request_idx ON audit_records (request_id);
CREATE INDEX audit_records_text_trgm_idx ON audit_records USING gin (text gin_trgm_ops);

-- The chain head: one row, locked by every commit.
CREATE TABLE audit_chain (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_id     bigint NOT NULL,
    last_hash   bytea,
    anchor_id   bigint NOT NULL DEFAULT 0,
    anchor_hash bytea,
    -- false while migrated rows still lack their hashes
    sealed      boolean NOT NULL
);

DO $$
DECLARE
    m timestamptz;
BEGIN
    FOR m IN SELECT DISTINCT date_trunc('month', time, 'UTC') FROM audit_records_0001 LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF audit_records FOR VALUES FROM (%L) TO (%L)',
            'audit_records_p' || to_char(m AT TIME ZONE 'UTC', 'YYYYMM'), m, m + interval '1 month');
    END LOOP;
END $$;

INSERT INTO audit_records (id, request_id, kind, user_id, home_id, device_id, time, text, intent, slots, parser,
    executed, answer, outcome, error, parse_us, resolve_us, execute_us, total_us, llm_tokens)
SELECT row_number() OVER (ORDER BY id), request_id, kind, user_id, home_id, device_id, time, text, intent, slots,
    parser, executed, answer, outcome, error, parse_us, resolve_us, execute_us, total_us, llm_tokens
FROM audit_records_0001;

INSERT INTO audit_chain (last_id, sealed) SELECT count(*), count(*) = 0 FROM audit_records_0001;

DROP TABLE audit_records_0001;

-- Hourly resource use per home, summed from agent telemetry.
CREATE TABLE usage_hourly (
    home_id          uuid NOT NULL,
    hour             timestamptz NOT NULL,
    cpu_core_seconds double precision NOT NULL,
    memory_gib_seconds double precision NOT NULL,
    samples          bigint NOT NULL,
    PRIMARY KEY (home_id, hour)
);
CREATE INDEX usage_hourly_hour_idx ON usage_hourly (hour);
