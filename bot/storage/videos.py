"""The SQL of the videos the bot delivered: what reply-to-remix, /remix, /usage and Delete look up. A
video's kind is its job's (the videos table has no column of its own for it). A deleted video keeps its
row (deleted_at, deleted_by: migration 0009): looked up by id, message or job it comes back marked, so
the caller can say why it is refused; lists of videos to pick from leave it out."""

from __future__ import annotations

from bot.domain.models import Video, VideoSpec
from bot.domain.video_history import Cursor, Direction, HistoryEntry
from bot.storage.database import Database, Row, Session

_SELECT = (
    "SELECT v.video_id, v.job_id, v.guild_id, v.channel_id, v.message_id, v.user_id, j.kind, v.prompt, v.model, "
    "v.duration, v.aspect_ratio, v.resolution, v.remixable, v.parent_video_id, v.created_at, v.deleted_at "
    "FROM videos v JOIN jobs j ON j.id = v.job_id"
)

_SELECT_COST = _SELECT.replace(" FROM ", ", j.cost_usd FROM ", 1)


class VideoStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_video(self, video_id: str) -> Video | None:
        async with self._db.reading() as session:
            row = await session.fetch_one(f"{_SELECT} WHERE v.video_id = ?", video_id)
        return _video(row) if row else None

    async def recent_videos(
        self, guild_id: int, user_id: int | None = None, limit: int = 5, *, remixable_only: bool = False
    ) -> list[Video]:
        sql = f"{_SELECT} WHERE v.guild_id = ? AND v.deleted_at IS NULL"
        args: tuple[object, ...] = (guild_id,)
        if user_id is not None:
            sql += " AND v.user_id = ?"
            args += (user_id,)
        if remixable_only:
            sql += " AND v.remixable = 1"
        sql += " ORDER BY v.created_at DESC LIMIT ?"
        async with self._db.reading() as session:
            rows = await session.fetch_all(sql, *args, limit)
        return [_video(r) for r in rows]

    async def history(
        self,
        guild_id: int,
        user_id: int | None,
        limit: int,
        *,
        edge: Cursor | None = None,
        direction: Direction = "older",
    ) -> list[HistoryEntry]:
        """/videos: a server's videos (one member's, with user_id), newest first, with their jobs' cost.
        Keyset pagination by (created_at, job_id): `limit` videos older than the edge (or the newest, with
        no edge), or newer than it. Every history query goes through the one WHERE built here, so hiding a
        deleted video later is one more condition in it."""
        where = ["v.guild_id = ?", "v.deleted_at IS NULL"]  # a deleted video is gone from every list
        args: list[object] = [guild_id]
        if user_id is not None:
            where.append("v.user_id = ?")
            args.append(user_id)
        newer = direction == "newer"
        if edge is not None:
            op = ">" if newer else "<"
            where.append(f"(v.created_at {op} ? OR (v.created_at = ? AND v.job_id {op} ?))")
            args += [edge.created_at, edge.created_at, edge.job_id]
        order = "ASC" if newer else "DESC"
        sql = f"{_SELECT_COST} WHERE {' AND '.join(where)} ORDER BY v.created_at {order}, v.job_id {order} LIMIT ?"
        async with self._db.reading() as session:
            rows = await session.fetch_all(sql, *args, limit)
        entries = [_entry(r) for r in rows]
        return entries[::-1] if newer else entries

    async def get_video_by_message(self, message_id: int) -> Video | None:
        async with self._db.reading() as session:
            row = await session.fetch_one(f"{_SELECT} WHERE v.message_id = ?", message_id)
        return _video(row) if row else None

    async def get_video_of_job(self, job_id: int) -> Video | None:
        """The video a job delivered (what its card's buttons name), if any."""
        async with self._db.reading() as session:
            row = await session.fetch_one(f"{_SELECT} WHERE v.job_id = ?", job_id)
        return _video(row) if row else None

    async def mark_deleted(self, video_id: str, actor_id: int, now: float) -> bool:
        """Mark the video deleted by actor_id; False when it already was (the first deletion is kept).
        Only the video: its job and its ledger entries stay as they are."""
        async with self._db.transaction() as session:
            changed = await session.execute(
                "UPDATE videos SET deleted_at = ?, deleted_by = ? WHERE video_id = ? AND deleted_at IS NULL",
                now,
                actor_id,
                video_id,
            )
        return changed == 1

    async def deleted_by(self, video_id: str) -> int | None:
        """Who deleted the video (the audit), None while it is not deleted."""
        async with self._db.reading() as session:
            value = await session.fetch_value("SELECT deleted_by FROM videos WHERE video_id = ?", video_id)
        return int(value) if value is not None else None


async def add(session: Session, video: Video) -> None:
    """Record a delivered video, inside the transaction that finishes its job (JobStore.mark_delivered)."""
    spec = video.spec
    await session.execute(
        "INSERT INTO videos (video_id, job_id, guild_id, channel_id, message_id, user_id, prompt, model, "
        "duration, aspect_ratio, resolution, remixable, parent_video_id, created_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        video.video_id,
        video.job_id,
        video.guild_id,
        video.channel_id,
        video.message_id,
        video.user_id,
        spec.prompt,
        spec.model,
        spec.duration,
        spec.aspect_ratio,
        spec.resolution,
        int(video.remixable),
        spec.parent_video_id,
        video.created_at,
    )


def _video(row: Row) -> Video:
    data = dict(row)
    spec = VideoSpec(**{name: data.pop(name) for name in VideoSpec.model_fields})
    data["remixable"] = bool(data["remixable"])
    return Video(spec=spec, **data)


def _entry(row: Row) -> HistoryEntry:
    data = dict(row)
    cost = float(data.pop("cost_usd"))
    return HistoryEntry(_video(data), cost)
