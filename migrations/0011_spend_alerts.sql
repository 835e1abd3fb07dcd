-- Spend alerts: where a server's admins want them (NULL: off), and their outbox. A row is written in the
-- transaction that reserves the spend crossing the threshold (or, for 100 %, just after the budget
-- refused a job), once per server, period and threshold (the unique index spend_alerts_once); a sender claims it, posts it
-- with a Discord nonce, and marks it. state: pending, sent, covered (a higher threshold crossed at once
-- was posted for it), given_up (the channel is gone or closed to the bot).
ALTER TABLE guild_settings ADD COLUMN alerts_channel_id INTEGER;
CREATE TABLE spend_alerts (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id         INTEGER NOT NULL,
    period_start     REAL    NOT NULL,
    threshold        INTEGER NOT NULL,  -- percent of the budget: 50, 80, 100
    channel_id       INTEGER NOT NULL,
    spent_micros     INTEGER NOT NULL,
    budget_micros    INTEGER NOT NULL,
    period_end       REAL    NOT NULL,
    refused          INTEGER NOT NULL DEFAULT 0,  -- 1: the budget refused a job
    state            TEXT    NOT NULL DEFAULT 'pending',
    message_id       INTEGER,
    claimed_by       TEXT,
    claim_expires_at REAL,
    created_at       REAL    NOT NULL,
    done_at          REAL
);
CREATE UNIQUE INDEX spend_alerts_once ON spend_alerts (guild_id, period_start, threshold);
CREATE INDEX spend_alerts_pending ON spend_alerts (id) WHERE state = 'pending';
