-- What each server's admins choose; a server without a row has the defaults in bot.guild_settings.
CREATE TABLE guild_settings (
    guild_id           INTEGER PRIMARY KEY,
    allowed_channels   TEXT    NOT NULL DEFAULT '[]',  -- JSON list of channel ids; empty = everywhere
    pro_role_id        INTEGER,                        -- NULL = everyone may use Sora 2 Pro
    default_model      TEXT    NOT NULL DEFAULT 'sora-2',
    default_duration   INTEGER NOT NULL DEFAULT 4,
    default_aspect     TEXT    NOT NULL DEFAULT '16:9',
    default_resolution TEXT    NOT NULL DEFAULT '720p',
    snapshot           TEXT,                           -- fal's `model` (a pinned Sora 2 snapshot); NULL = latest
    ip_block           INTEGER NOT NULL DEFAULT 0,     -- send detect_and_block_ip
    remixable          INTEGER NOT NULL DEFAULT 1,     -- 0: send delete_video true, remix is off
    updated_by         INTEGER,
    updated_at         REAL    NOT NULL
);

-- Terms refused before any fal call (stored normalised: case- and accent-folded).
CREATE TABLE blocklist (
    guild_id   INTEGER NOT NULL,
    term       TEXT    NOT NULL,
    added_by   INTEGER NOT NULL,
    added_at   REAL    NOT NULL,
    PRIMARY KEY (guild_id, term)
);

CREATE TABLE settings_audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id   INTEGER NOT NULL,
    actor_id   INTEGER NOT NULL,
    action     TEXT    NOT NULL,
    details    TEXT    NOT NULL,                      -- JSON
    created_at REAL    NOT NULL
);
