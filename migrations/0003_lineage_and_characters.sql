-- A remix records the video it started from; its embed links to that video's message.
ALTER TABLE jobs ADD COLUMN parent_video_id TEXT;

-- Sora characters made with fal-ai/sora-2/characters, per server.
CREATE TABLE characters (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id     INTEGER NOT NULL,
    name         TEXT    NOT NULL,
    fal_id       TEXT    NOT NULL,               -- what generations send as character_ids
    created_by   INTEGER NOT NULL,
    created_at   REAL    NOT NULL
);
CREATE UNIQUE INDEX characters_guild_name ON characters (guild_id, name COLLATE NOCASE);
