"""What /usage and /quota show, as plain text (Discord markdown), so it is easy to test and change."""

from __future__ import annotations

from bot.domain.quota import Limits, Report, Usage, money, when
from bot.domain.spend import SpendFigures
from bot.domain.text import Moment, Money, Text


def limit_text(micros: int | None) -> str:
    return "unlimited" if micros is None else money(micros)


def rules(limits: Limits) -> str:
    budget = "none" if limits.budget_micros is None else f"{money(limits.budget_micros)} per period"
    return (
        f"Default member limit: **{limit_text(limits.member_limit_micros)}** per **{limits.period.value}** period "
        f"(UTC)\nServer budget: **{budget}**\n"
        f"Videos in progress at once: **{limits.max_jobs_per_member}** per member, "
        f"**{limits.max_jobs_per_guild}** in the server; beyond, up to **{limits.max_waiting_per_member}** "
        "per member wait their turn"
    )


def usage(who: str, data: Usage) -> str:
    """`who` is "You" or a mention."""
    s = data.standing
    has = "have" if who == "You" else "has"
    lines = [f"**Usage this {s.limits.period.value} period** (resets {when(s.period_end)})"]
    if s.member_limit_micros is None:
        lines.append(f"Spent {money(s.member_spent_micros)}; {who} {has} no limit.")
    else:
        left = max(0, s.member_limit_micros - s.member_spent_micros)
        lines.append(
            f"Spent {money(s.member_spent_micros)} of {money(s.member_limit_micros)}: "
            f"{who} {has} **{money(left)}** left."
        )
    if data.has_override:
        lines.append("(a limit set for this member by an admin)")
    lines.append(
        f"Videos in progress: {s.member_running} of {s.limits.max_jobs_per_member}; "
        f"waiting for a slot: {s.member_waiting} of {s.limits.max_waiting_per_member}."
    )
    if data.recent:
        lines.append("Last videos:")
        for video in data.recent:
            link = f"https://discord.com/channels/{video.guild_id}/{video.channel_id}/{video.message_id}"
            prompt = video.spec.prompt if len(video.spec.prompt) <= 60 else video.spec.prompt[:59] + "…"
            lines.append(f"• [{prompt}]({link}) · `{video.video_id}`")
    return "\n".join(lines)


def help_lines(data: Usage) -> list[str]:
    """/help's quota field: what the member has left this period, then the server's rules."""
    s = data.standing
    period = f"this {s.limits.period.value} period (resets {when(s.period_end)})"
    if s.member_limit_micros is None:
        mine = f"You have no limit; spent {money(s.member_spent_micros)} {period}."
    else:
        left = max(0, s.member_limit_micros - s.member_spent_micros)
        mine = f"You have **{money(left)}** left of {money(s.member_limit_micros)} {period}."
    return [mine, *rules(s.limits).split("\n")]


def report(data: Report, figures: SpendFigures) -> list[Text]:
    """/quota report's lines, each a Text (render each, then join them)."""
    limits = data.limits
    lines = [
        Text("**Spend from {start} to {end}**", start=Moment(data.period_start), end=Moment(data.period_end)),
        Text("Spent: **{spent}** ({committed} delivered, {reserved} still reserved)", spent=Money(data.spent_micros),
             committed=Money(figures.committed_micros), reserved=Money(figures.reserved_micros)),
    ]  # fmt: skip
    if figures.reset_micros:
        lines.append(Text("Cleared by admins' resets: {amount}", amount=Money(-figures.reset_micros)))
    if limits.budget_micros is not None:
        left = max(0, limits.budget_micros - data.spent_micros)
        lines.append(Text("Budget left: **{left}** of {budget}", left=Money(left), budget=Money(limits.budget_micros)))
    else:
        lines.append(Text("Budget: none set"))
    lines.append(Text("Videos delivered: {videos} · in progress now: {running}", videos=data.videos,
                      running=data.running))  # fmt: skip
    if data.top:
        lines.append(Text("Top members:"))
        lines.extend(
            Text("{rank}. <@{user_id}>: {spent}", rank=rank, user_id=user_id, spent=Money(micros))
            for rank, (user_id, micros) in enumerate(data.top, 1)
        )
    return lines
