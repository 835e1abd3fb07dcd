"""/videos' texts: a member's prompt is made inert, shortened, and the pager's id reads back exactly."""

from __future__ import annotations

import re

from bot.domain import custom_ids
from bot.domain.video_history import escape, shorten


def test_escape_leaves_no_markdown_and_no_mention():
    text = escape("**hi** <@123> <@&9> @everyone @here `x` [l](http://a) > q\nnext || s ||")
    assert "**" not in text.replace("\\*", "") and "<@" not in text.replace("\\<@", "")
    assert "@everyone" not in text and "@here" not in text and "\n" not in text
    assert "`" not in text.replace("\\`", "") and "](" not in text


def test_shorten_cuts_at_60_with_an_ellipsis_and_keeps_short_prompts():
    assert shorten("a  short\nprompt") == "a short prompt"
    long = shorten("x" * 100)
    assert len(long) == 60 and long.endswith("…")


def test_the_pager_id_fits_discord_and_its_edge_reads_back_as_the_same_float():
    created_at = 1_795_998_549.6765851
    custom_id = custom_ids.page("server", 2**63 - 1, "newer", created_at, 2**63 - 1)
    match = re.fullmatch(custom_ids.PAGE_TEMPLATE, custom_id)
    assert match is not None and len(custom_id) <= 100
    assert float(match[4]) == created_at and match[1] == "server" and match[3] == "newer"
    assert custom_ids.parse(custom_id) is None  # not a job's button or a form
