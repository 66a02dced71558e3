-- The latest Home Assistant container status of each home, as its agent
-- reported it, and the restarts with their reasons. Both go with the home.
CREATE TABLE instance_status (
    home_id            uuid PRIMARY KEY REFERENCES homes (id) ON DELETE CASCADE,
    state              text NOT NULL,
    health             text NOT NULL,
    mode               text NOT NULL DEFAULT '',
    image              text NOT NULL DEFAULT '',
    version            text NOT NULL DEFAULT '',
    started_at         timestamptz,
    restarts           integer NOT NULL DEFAULT 0,
    cpu_percent        double precision NOT NULL DEFAULT 0,
    memory_bytes       bigint NOT NULL DEFAULT 0,
    memory_limit_bytes bigint NOT NULL DEFAULT 0,
    last_event         text NOT NULL DEFAULT '',
    last_event_reason  text NOT NULL DEFAULT '',
    last_event_at      timestamptz,
    updated_at         timestamptz NOT NULL
);

-- Bounded per home by the store: older rows are deleted as new ones arrive.
CREATE TABLE instance_restarts (
    home_id uuid NOT NULL REFERENCES homes (id) ON DELETE CASCADE,
    at      timestamptz NOT NULL,
    reason  text NOT NULL,
    PRIMARY KEY (home_id, at)
);
