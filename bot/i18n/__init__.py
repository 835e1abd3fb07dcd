"""The bot's words in members' languages: gettext catalogues (.po files under locales/, read with Babel)."""
