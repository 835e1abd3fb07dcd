-- PostgreSQL twin of migrations/0008_fal_webhooks.sql.
-- fal's signed webhooks (FAL_UPDATES=webhook). Whichever process receives one records it here before
-- answering 200; the job's owner reads it. One row per request: fal's retries of a recorded one are no-ops.
CREATE TABLE fal_webhooks (
    request_id  TEXT    PRIMARY KEY,
    job_id      BIGINT  NOT NULL,
    body        TEXT    NOT NULL,                  -- the webhook's JSON as fal sent it (status, payload, error)
    received_at DOUBLE PRECISION NOT NULL
);

-- The signatures of the webhooks verified in the last minutes: the same signature again is a replay and
-- refused. Older ones need no keeping: their timestamp is refused anyway (5 minutes either way).
CREATE TABLE fal_webhook_signatures (
    signature   TEXT    PRIMARY KEY,
    received_at DOUBLE PRECISION NOT NULL
);
