"""The AlertPoster for Discord: a spend alert as an ordinary channel message in the server's language,
pinging nobody, its nonce enforced by Discord."""

from __future__ import annotations

import aiohttp
import discord

from bot.discord.localize import for_server
from bot.domain.spend_alerts import Alert, AlertForbidden, AlertUnavailable
from bot.domain.text import Text


class DiscordAlertPoster:
    def __init__(self, client: discord.Client) -> None:
        self._client = client

    async def post_alert(self, alert: Alert, lines: list[Text]) -> int:
        # Each line rendered on its own, then joined: a Text joined to a str would stay English.
        content = "\n".join([await for_server(self._client, alert.guild_id, line) for line in lines])
        channel = self._client.get_partial_messageable(alert.channel_id, guild_id=alert.guild_id)
        try:
            message = await channel.send(
                content=content[:2000], allowed_mentions=discord.AllowedMentions.none(), nonce=alert.nonce
            )
        except (discord.Forbidden, discord.NotFound) as exc:  # no permission, or the channel is gone
            raise AlertForbidden(f"HTTP {exc.status}") from exc
        except discord.HTTPException as exc:
            if exc.status >= 500:  # discord.py retries 500/502/504 a few times itself, never 503
                raise AlertUnavailable(f"HTTP {exc.status}") from exc
            raise AlertForbidden(f"HTTP {exc.status}") from exc  # any other refusal: retrying would not help
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:  # the connection dropped: answer lost
            raise AlertUnavailable(type(exc).__name__) from exc
        return message.id
