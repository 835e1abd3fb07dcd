"""Running the bot: metrics, health, /status, /help, `check`, `invite`, the quota's views, logs."""
