-- Resource samples as agents sent them, once each (ADR 0031). Replicas
-- ingest through shared subscriptions, so one home's samples may reach
-- several replicas, twice, or out of order: the primary key makes a
-- redelivered sample a no-op, and usage_hourly is recomputed (not added to)
-- from the samples, so any replica may roll up any hour any number of times.
-- Samples are kept only as long as a late one may still change a rollup.
CREATE TABLE usage_samples (
    home_id      uuid NOT NULL,
    time         timestamptz NOT NULL,
    cpu_percent  double precision NOT NULL,
    memory_bytes bigint NOT NULL,
    PRIMARY KEY (home_id, time)
);
CREATE INDEX usage_samples_time_idx ON usage_samples (time);
