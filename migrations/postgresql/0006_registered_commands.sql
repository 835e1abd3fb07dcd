-- PostgreSQL twin of migrations/0006_registered_commands.sql.
-- The slash commands last registered with Discord, per scope, so each start registers them only when the
-- command tree changed (Discord limits how often commands may be created).
CREATE TABLE registered_commands (
    scope         TEXT PRIMARY KEY,   -- 'global', or the server id of DEV_GUILD_ID
    digest        TEXT NOT NULL,      -- sha256 of the commands' JSON payload, as sent to Discord
    registered_at DOUBLE PRECISION NOT NULL
);
