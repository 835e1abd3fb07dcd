-- Per-server quota settings; a server without a row uses the operator's defaults.
CREATE TABLE guild_quotas (
    guild_id            INTEGER PRIMARY KEY,
    member_limit_micros INTEGER,                 -- default per-member limit per period; NULL = unlimited
    period              TEXT    NOT NULL,        -- daily, weekly, monthly
    budget_micros       INTEGER,                 -- server-wide budget per period; NULL = none
    max_jobs_per_member INTEGER NOT NULL,
    max_jobs_per_guild  INTEGER NOT NULL,
    updated_by          INTEGER,
    updated_at          REAL    NOT NULL
);

-- Per-member overrides of the server's default limit.
CREATE TABLE member_quotas (
    guild_id     INTEGER NOT NULL,
    user_id      INTEGER NOT NULL,
    limit_micros INTEGER,                        -- NULL = unlimited
    updated_by   INTEGER NOT NULL,
    updated_at   REAL    NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

-- The spend ledger, in millionths of a US dollar. A member's usage in a period is the sum of the
-- reserve, refund and reset entries of that period; commit entries mark a reservation as final.
CREATE TABLE ledger (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id      INTEGER NOT NULL,
    user_id       INTEGER NOT NULL,
    job_id        INTEGER REFERENCES jobs (id),
    kind          TEXT    NOT NULL,              -- reserve, commit, refund, reset
    amount_micros INTEGER NOT NULL,              -- signed: reserve +, refund -, reset -, commit + (not summed)
    period_start  REAL    NOT NULL,              -- the period the entry counts in (a refund: its reservation's)
    actor_id      INTEGER,                       -- who did it, for admin entries
    created_at    REAL    NOT NULL
);
CREATE UNIQUE INDEX ledger_once_per_job ON ledger (job_id, kind) WHERE job_id IS NOT NULL;
CREATE INDEX ledger_member_period ON ledger (guild_id, user_id, period_start);
CREATE INDEX ledger_guild_period ON ledger (guild_id, period_start);

-- Every admin change: who, when, what.
CREATE TABLE quota_audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id   INTEGER NOT NULL,
    actor_id   INTEGER NOT NULL,
    action     TEXT    NOT NULL,
    details    TEXT    NOT NULL,                 -- JSON
    created_at REAL    NOT NULL
);

CREATE INDEX jobs_running_member ON jobs (guild_id, user_id, state);
