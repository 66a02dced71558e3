-- The fleet over time (ADR 0035): one row per minute of the database's
-- clock, written by the replica holding the lease "fleet" (the primary key
-- keeps a second writer of the same minute out), deleted after the
-- retention.
CREATE TABLE fleet_snapshots (
    at          timestamptz PRIMARY KEY,
    homes       integer NOT NULL CHECK (homes >= 0),
    online      integer NOT NULL CHECK (online >= 0),
    running     integer NOT NULL CHECK (running >= 0),
    crash_loops integer NOT NULL CHECK (crash_loops >= 0),
    -- restarts central learnt of since the previous row
    restarts    integer NOT NULL CHECK (restarts >= 0)
);

-- When central learnt of a restart: one reported late, from an agent's
-- outbox, still counts once, in the minute it arrived. Rows from before
-- this migration are never counted.
ALTER TABLE instance_restarts ADD COLUMN recorded_at timestamptz NOT NULL DEFAULT '-infinity';
ALTER TABLE instance_restarts ALTER COLUMN recorded_at SET DEFAULT now();
CREATE INDEX instance_restarts_recorded_idx ON instance_restarts (recorded_at);
