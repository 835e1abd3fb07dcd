-- Jobs: one row per requested video, every state change written before it is acted on.
CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT    NOT NULL,              -- text_to_video, image_to_video, remix
    state            TEXT    NOT NULL,              -- see bot.models.JobState
    guild_id         INTEGER NOT NULL,
    channel_id       INTEGER NOT NULL,
    user_id          INTEGER NOT NULL,
    endpoint         TEXT    NOT NULL,              -- fal endpoint id
    arguments        TEXT    NOT NULL,              -- JSON sent to fal
    prompt           TEXT    NOT NULL,
    model            TEXT    NOT NULL,
    duration         INTEGER NOT NULL,
    aspect_ratio     TEXT    NOT NULL,
    resolution       TEXT    NOT NULL,
    cost_usd         REAL    NOT NULL,
    request_id       TEXT,                          -- fal request id, stored before anything else can be lost
    progress_message_id INTEGER,                    -- the message that shows progress (interaction response)
    reply_to_message_id INTEGER,                    -- message the finished video replies to
    result_json      TEXT,                          -- fal's result, once fetched
    video_message_id INTEGER,                       -- the posted video
    error            TEXT,                          -- user-facing reason when failed
    created_at       REAL    NOT NULL,
    updated_at       REAL    NOT NULL,
    finished_at      REAL
);
CREATE INDEX jobs_unfinished ON jobs (state) WHERE state NOT IN ('delivered', 'failed', 'cancelled');
CREATE UNIQUE INDEX jobs_request_id ON jobs (request_id) WHERE request_id IS NOT NULL;

-- Videos the bot delivered: what reply-to-remix and /remix look up.
CREATE TABLE videos (
    video_id     TEXT    PRIMARY KEY,               -- fal video_id
    job_id       INTEGER NOT NULL REFERENCES jobs (id),
    guild_id     INTEGER NOT NULL,
    channel_id   INTEGER NOT NULL,
    message_id   INTEGER NOT NULL,
    user_id      INTEGER NOT NULL,
    prompt       TEXT    NOT NULL,
    model        TEXT    NOT NULL,
    duration     INTEGER NOT NULL,
    aspect_ratio TEXT    NOT NULL,
    resolution   TEXT    NOT NULL,
    remixable    INTEGER NOT NULL,
    parent_video_id TEXT,
    created_at   REAL    NOT NULL
);
CREATE UNIQUE INDEX videos_message ON videos (message_id);
CREATE INDEX videos_guild_recent ON videos (guild_id, created_at DESC);
