"""The Discord adapter: the client, the Messenger for it, registering the slash commands."""
