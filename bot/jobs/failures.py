"""What every part of a job's path shares: the failure that ends a job with a sentence for the member,
and the prefix of every job log line."""

from __future__ import annotations

from bot.domain.models import Job


class JobFailed(Exception):
    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


def who(job: Job) -> str:
    """The prefix of every job log line, so each can be filtered by job, server, member or state."""
    return f"job={job.id} guild={job.guild_id} user={job.user_id} state={job.state}"
