-- The CPU and memory limits an operator set for a home's Home Assistant
-- container (AdminService.SetInstanceLimits). No row: the agent's own
-- limits apply. 0 means no limit. They go with the home.
CREATE TABLE instance_limits (
    home_id      uuid PRIMARY KEY REFERENCES homes (id) ON DELETE CASCADE,
    memory_bytes bigint NOT NULL CHECK (memory_bytes >= 0),
    nano_cpus    bigint NOT NULL CHECK (nano_cpus >= 0),
    updated_at   timestamptz NOT NULL
);
