-- PostgreSQL twin of migrations/0007_leases.sql.
-- A job belongs to one process at a time: its lease (owner, expiry) is renewed by the owner's heartbeat,
-- every write of the job is fenced by the owner (bot/storage/jobs.py), and a job whose lease has expired
-- (its process died) or was released (a clean stop) is claimed by a live process
-- (UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)).
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_expires_at DOUBLE PRECISION;
-- The unfinished jobs in lease order: what a claim scans.
CREATE INDEX jobs_claimable ON jobs (lease_expires_at) WHERE state NOT IN ('delivered', 'failed', 'cancelled');

-- Every process that ran the bot: its shards, when it started, its last heartbeat, when it stopped
-- cleanly (NULL: running, or it died). /status lists the live ones.
CREATE TABLE processes (
    id           TEXT    PRIMARY KEY,               -- the owner id of its leases: host:pid:random
    shards       TEXT,                              -- e.g. "0-3", NULL when unsharded
    started_at   DOUBLE PRECISION NOT NULL,
    heartbeat_at DOUBLE PRECISION NOT NULL,
    stopped_at   DOUBLE PRECISION
);
