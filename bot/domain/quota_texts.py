"""What /usage and /quota show, as plain text (Discord markdown), so it is easy to test and change."""

from __future__ import annotations

from bot.domain.quota import Limits, Period, Report, Usage
from bot.domain.spend import SpendFigures
from bot.domain.text import Moment, Money, Text

# How a period is said: the current one ("this week"), and one of its kind ("per week").
THIS_PERIOD = {Period.DAILY: Text("today"), Period.WEEKLY: Text("this week"), Period.MONTHLY: Text("this month")}
PER_PERIOD = {Period.DAILY: Text("day"), Period.WEEKLY: Text("week"), Period.MONTHLY: Text("month")}


def limit_text(micros: int | None) -> Text | Money:
    return Text("unlimited") if micros is None else Money(micros)


def rules(limits: Limits) -> list[Text]:
    unit = PER_PERIOD[limits.period]
    if limits.budget_micros is None:
        budget = Text("Server budget: **none**")
    else:
        budget = Text("Server budget: **{amount}** per {unit}", amount=Money(limits.budget_micros), unit=unit)
    return [
        Text(
            "Default member limit: **{limit}** per **{unit}** (UTC)",
            limit=limit_text(limits.member_limit_micros),
            unit=unit,
        ),
        budget,
        Text(
            "Videos in progress at once: **{member}** per member, **{server}** in the server; beyond, up to "
            "**{waiting}** per member wait their turn",
            member=limits.max_jobs_per_member,
            server=limits.max_jobs_per_guild,
            waiting=limits.max_waiting_per_member,
        ),
    ]


def usage(data: Usage, member: str | None = None) -> list[str]:
    """The member's own /usage (member None), or an admin's /quota show of a member (their mention)."""
    s = data.standing
    lines: list[str] = [
        Text("**Usage {period}** (resets {reset})", period=THIS_PERIOD[s.limits.period], reset=Moment(s.period_end))
    ]
    spent = Money(s.member_spent_micros)
    if s.member_limit_micros is None:
        if member is None:
            lines.append(Text("Spent {spent}; you have no limit.", spent=spent))
        else:
            lines.append(Text("Spent {spent}; {member} has no limit.", spent=spent, member=member))
    else:
        left = Money(max(0, s.member_limit_micros - s.member_spent_micros))
        limit = Money(s.member_limit_micros)
        if member is None:
            lines.append(
                Text("Spent {spent} of {limit}: you have **{left}** left.", spent=spent, limit=limit, left=left)
            )
        else:
            lines.append(
                Text(
                    "Spent {spent} of {limit}: {member} has **{left}** left.",
                    spent=spent,
                    limit=limit,
                    left=left,
                    member=member,
                )
            )
    if data.has_override:
        lines.append(Text("(a limit set for this member by an admin)"))
    lines.append(
        Text(
            "Videos in progress: {running} of {most}; waiting for a slot: {waiting} of {most_waiting}.",
            running=s.member_running,
            most=s.limits.max_jobs_per_member,
            waiting=s.member_waiting,
            most_waiting=s.limits.max_waiting_per_member,
        )
    )
    if data.recent:
        lines.append(Text("Last videos:"))
        for video in data.recent:
            link = f"https://discord.com/channels/{video.guild_id}/{video.channel_id}/{video.message_id}"
            prompt = video.spec.prompt if len(video.spec.prompt) <= 60 else video.spec.prompt[:59] + "…"
            lines.append(f"• [{prompt}]({link}) · `{video.video_id}`")  # no words to translate
    return lines


def help_lines(data: Usage) -> list[Text]:
    """/help's quota field: what the member has left this period, then the server's rules."""
    s = data.standing
    period, reset = THIS_PERIOD[s.limits.period], Moment(s.period_end)
    if s.member_limit_micros is None:
        mine = Text(
            "You have no limit; spent {spent} {period} (resets {reset}).",
            spent=Money(s.member_spent_micros),
            period=period,
            reset=reset,
        )
    else:
        mine = Text(
            "You have **{left}** left of {limit} {period} (resets {reset}).",
            left=Money(max(0, s.member_limit_micros - s.member_spent_micros)),
            limit=Money(s.member_limit_micros),
            period=period,
            reset=reset,
        )
    return [mine, *rules(s.limits)]


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
