"""What /usage and /quota show, as plain text (Discord markdown), so it is easy to test and change."""

from __future__ import annotations

from bot.domain.quota import Limits, Report, Usage, money, when


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


def report(data: Report) -> str:
    limits = data.limits
    lines = [
        f"**This {limits.period.value} period** ({when(data.period_start)} to {when(data.period_end)})",
        f"Spent: **{money(data.spent_micros)}**",
    ]
    if limits.budget_micros is not None:
        lines.append(
            f"Budget left: **{money(max(0, limits.budget_micros - data.spent_micros))}** "
            f"of {money(limits.budget_micros)}"
        )
    else:
        lines.append("Budget: none set")
    lines.append(f"Videos delivered: {data.videos} · in progress now: {data.running}")
    if data.top:
        lines.append("Top members:")
        lines.extend(f"{i}. <@{user_id}>: {money(micros)}" for i, (user_id, micros) in enumerate(data.top, 1))
    return "\n".join(lines)
