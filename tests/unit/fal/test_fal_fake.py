"""The fake fal queue, driven by the real fal_client.AsyncClient."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import fal_client
import httpx
import pytest
from fal_client import AsyncClient, Completed, FalClientHTTPError, InProgress, Queued

from tests.fakes import media
from tests.fakes.fal import FakeFal, JobScript, default_video_path, validate_payload
from tests.fakes.ports import FAL_HOST

T2V = "fal-ai/sora-2/text-to-video"
T2V_PRO = "fal-ai/sora-2/text-to-video/pro"
I2V = "fal-ai/sora-2/image-to-video"
I2V_PRO = "fal-ai/sora-2/image-to-video/pro"
REMIX = "fal-ai/sora-2/video-to-video/remix"
CHARACTERS = "fal-ai/sora-2/characters"

FAST = JobScript(queue_seconds=0.05, run_seconds=0.1, start_position=0)


def t2v_args(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "prompt": "A corgi surfing a wave at sunset",
        "duration": 4,
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "delete_video": True,
    }
    args.update(overrides)
    return args


async def close_fal_client(c: AsyncClient) -> None:
    """AsyncClient has no close(); shut its lazily made httpx client if it exists."""
    if "_client" in c.__dict__:
        http = await c._client
        await http.aclose()


@pytest.fixture
async def client(fake_fal: FakeFal) -> AsyncIterator[AsyncClient]:
    c = AsyncClient(key="test-fal-key")
    yield c
    await close_fal_client(c)


async def wait_completed(client: AsyncClient, app: str, rid: str, limit: float = 10) -> Completed:
    async with asyncio.timeout(limit):
        while True:
            status = await client.status(app, rid, with_logs=True)
            if isinstance(status, Completed):
                return status
            await asyncio.sleep(0.02)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_env_points_fal_client_at_the_fake(fake_fal: FakeFal) -> None:
    assert fake_fal.host == FAL_HOST
    assert fal_client.client.QUEUE_URL_FORMAT == f"https://{FAL_HOST}/"


async def test_full_lifecycle_and_download(fake_fal: FakeFal, client: AsyncClient) -> None:
    handle = await client.submit(T2V_PRO, t2v_args(resolution="1080p", duration="8"))
    sub = await fake_fal.wait_for_submission(1)
    assert sub.accepted and sub.request_id == handle.request_id
    assert sub.endpoint == T2V_PRO
    assert sub.payload == t2v_args(resolution="1080p", duration="8")
    assert sub.headers["Authorization"] == "Key test-fal-key"
    assert handle.status_url == f"https://{FAL_HOST}/fal-ai/sora-2/requests/{handle.request_id}/status"

    positions: list[int] = []
    progress_logs: list[int] = []
    completed: Completed | None = None
    async with asyncio.timeout(10):
        while completed is None:
            status = await client.status(T2V_PRO, handle.request_id, with_logs=True)
            if isinstance(status, Queued):
                assert not progress_logs, "queued again after starting"
                positions.append(status.position)
            elif isinstance(status, InProgress):
                assert status.logs is not None
                progress_logs.append(len(status.logs))
            else:
                assert isinstance(status, Completed)
                completed = status
            await asyncio.sleep(0.04)

    assert positions[0] == 2 and positions[-1] == 0
    assert positions == sorted(positions, reverse=True)
    assert set(positions) == {0, 1, 2}
    assert progress_logs and progress_logs == sorted(progress_logs) and progress_logs[-1] > progress_logs[0]
    assert completed.error is None and completed.error_type is None
    assert completed.metrics["inference_time"] == pytest.approx(1.0)
    assert completed.logs is not None
    assert any("Generating video... 25%" == log["message"] for log in completed.logs)
    assert all({"message", "level", "source", "timestamp"} <= set(log) for log in completed.logs)

    # Without logs=true the logs are null.
    quiet = await client.status(T2V_PRO, handle.request_id)
    assert isinstance(quiet, Completed) and quiet.logs is None

    result = await client.result(T2V_PRO, handle.request_id)
    video = result["video"]
    assert result["video_id"].startswith("video_")
    assert result["thumbnail"] is None
    assert video["url"] == f"https://{FAL_HOST}/files/{result['video_id']}.mp4"
    assert video["content_type"] == "video/mp4"
    assert (video["width"], video["height"], video["fps"]) == (1280, 720, 24)
    assert video["duration"] == pytest.approx(8, abs=0.1)  # as long as the job asked

    async with (
        aiohttp.ClientSession() as session,
        session.get(video["url"], ssl=fake_fal.client_ssl_context()) as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "video/mp4"
        assert int(resp.headers["Content-Length"]) == video["file_size"]
        data = await resp.read()
    assert sha256(data) == sha256(default_video_path(8).read_bytes())
    assert len(data) == video["file_size"]

    rid = handle.request_id
    assert fake_fal.count(kind="submit") == 1
    # Our polls, the logs=false one, and the one result() makes before fetching.
    assert fake_fal.count(request_id=rid, kind="status") == len(positions) + len(progress_logs) + 3
    assert fake_fal.count(request_id=rid, kind="result") == 1
    assert fake_fal.count(kind="file") == 1
    status_req = next(r for r in fake_fal.requests if r.kind == "status")
    assert status_req.query == {"logs": "true"} and status_req.status == 200


async def test_scripted_video_and_fifo(fake_fal: FakeFal, client: AsyncClient, tmp_path: Path) -> None:
    own = media.make_mp4(tmp_path / "own.mp4", seconds=1, width=320, height=240)
    fake_fal.script_next(
        JobScript(queue_seconds=0, run_seconds=0.05, video=own, video_id="video_custom"),
        JobScript(queue_seconds=0, run_seconds=0.05, outcome="result_gone"),
    )
    fake_fal.default_script = FAST
    h1 = await client.submit(T2V, t2v_args())
    h2 = await client.submit(T2V, t2v_args())
    h3 = await client.submit(T2V, t2v_args())

    r1 = await client.result(T2V, h1.request_id)
    assert r1["video_id"] == "video_custom"
    assert (r1["video"]["width"], r1["video"]["height"]) == (320, 240)
    async with (
        aiohttp.ClientSession() as session,
        session.get(r1["video"]["url"], ssl=fake_fal.client_ssl_context()) as resp,
    ):
        assert sha256(await resp.read()) == sha256(own.read_bytes())

    with pytest.raises(FalClientHTTPError) as gone:
        await client.result(T2V, h2.request_id)
    assert gone.value.status_code == 404 and gone.value.message == "Request not found"

    assert "video" in await client.result(T2V, h3.request_id)
    assert fake_fal.job(h3.request_id).script is FAST


async def test_content_policy(fake_fal: FakeFal, client: AsyncClient) -> None:
    fake_fal.script_next(JobScript(queue_seconds=0, run_seconds=0.1, outcome="content_policy"))
    handle = await client.submit(T2V, t2v_args(prompt="something flagged"))
    done = await wait_completed(client, T2V, handle.request_id)
    assert done.error_type == "content_policy_violation"
    assert done.error
    with pytest.raises(FalClientHTTPError) as info:
        await client.result(T2V, handle.request_id)
    err = info.value
    assert err.status_code == 422
    assert err.error_type == "content_policy_violation"
    assert isinstance(err.message, list)
    assert err.message[0]["type"] == "content_policy_violation"
    assert err.message[0]["loc"] == ["body", "prompt"]
    assert err.response_headers["x-fal-request-id"] == handle.request_id


async def test_validation_on_submit(fake_fal: FakeFal, client: AsyncClient) -> None:
    fake_fal.script_next(JobScript(outcome="validation_on_submit"))
    with pytest.raises(FalClientHTTPError) as info:
        await client.submit(T2V, t2v_args())
    assert info.value.status_code == 422
    assert info.value.message[0]["loc"] == ["body", "duration"]
    assert info.value.message[0]["type"] == "value_error"
    sub = fake_fal.submissions[0]
    assert not sub.accepted and sub.request_id is None and sub.status == 422
    assert sub.payload == t2v_args()
    assert fake_fal.jobs == {}
    # The script was consumed: the next submission is accepted.
    await client.submit(T2V, t2v_args())
    assert fake_fal.submissions[1].accepted


@pytest.mark.parametrize(
    ("endpoint", "args", "field", "type_"),
    [
        (T2V, t2v_args(duration=5), "duration", "literal_error"),
        (T2V, t2v_args(duration=True), "duration", "literal_error"),
        (T2V, t2v_args(aspect_ratio="1:1"), "aspect_ratio", "literal_error"),
        (T2V, t2v_args(aspect_ratio="auto"), "aspect_ratio", "literal_error"),
        (T2V, t2v_args(resolution="1080p"), "resolution", "literal_error"),
        (T2V_PRO, t2v_args(resolution="true_1080p"), "resolution", "literal_error"),
        (T2V, t2v_args(prompt=""), "prompt", "string_too_short"),
        (T2V, t2v_args(prompt="x" * 5001), "prompt", "string_too_long"),
        (T2V, {"duration": 4}, "prompt", "missing"),
        (T2V, t2v_args(delete_video="yes"), "delete_video", "bool_type"),
        (I2V, t2v_args(), "image_url", "missing"),
        (I2V, t2v_args(image_url="https://x/y.png", resolution="1080p"), "resolution", "literal_error"),
        (REMIX, {"prompt": "make it snow"}, "video_id", "missing"),
        (CHARACTERS, {"name": "Bob"}, "video_url", "missing"),
    ],
)
async def test_payload_shape_rejected(
    fake_fal: FakeFal, client: AsyncClient, endpoint: str, args: dict[str, Any], field: str, type_: str
) -> None:
    with pytest.raises(FalClientHTTPError) as info:
        await client.submit(endpoint, args)
    assert info.value.status_code == 422
    assert [(e["loc"], e["type"]) for e in info.value.message] == [(["body", field], type_)]
    assert fake_fal.submissions[0].errors == info.value.message
    assert fake_fal.submissions[0].payload == args


def test_payload_shapes_accepted() -> None:
    img = "https://example.invalid/a.png"
    assert validate_payload(T2V, t2v_args(duration="20")) == []
    assert validate_payload(T2V, {"prompt": "p"}) == []
    assert validate_payload(T2V_PRO, t2v_args(resolution="1080p", aspect_ratio="9:16")) == []
    assert validate_payload(I2V, t2v_args(image_url=img, resolution="auto", aspect_ratio="auto")) == []
    assert validate_payload(I2V_PRO, t2v_args(image_url=img, resolution="true_1080p", duration=16)) == []
    assert validate_payload(REMIX, {"prompt": "p", "video_id": "video_1", "delete_video": False}) == []
    assert validate_payload(CHARACTERS, {"name": "Bob", "video_url": "https://x/v.mp4"}) == []
    assert validate_payload(T2V, t2v_args(seed=1)) == []
    assert validate_payload(T2V, t2v_args(seed=1), reject_unknown=True)[0]["type"] == "extra_forbidden"


async def test_unknown_endpoint(fake_fal: FakeFal, client: AsyncClient) -> None:
    with pytest.raises(FalClientHTTPError) as info:
        await client.submit("fal-ai/sora-2/text-to-audio", {"prompt": "x"})
    assert info.value.status_code == 404
    assert fake_fal.submissions[0].status == 404


async def test_server_error(fake_fal: FakeFal, client: AsyncClient) -> None:
    fake_fal.script_next(JobScript(queue_seconds=0, run_seconds=0.05, outcome="server_error"))
    handle = await client.submit(T2V, t2v_args())
    done = await wait_completed(client, T2V, handle.request_id)
    assert done.error_type == "internal_server_error"
    with pytest.raises(FalClientHTTPError) as info:
        await client.result(T2V, handle.request_id)
    assert info.value.status_code == 500
    assert info.value.error_type == "internal_server_error"
    assert fake_fal.count(request_id=handle.request_id, kind="result") == 1  # not retried


async def test_server_error_then_ok(fake_fal: FakeFal, client: AsyncClient) -> None:
    fake_fal.script_next(JobScript(queue_seconds=0, run_seconds=0.05, outcome="server_error_then_ok"))
    handle = await client.submit(T2V, t2v_args())
    done = await wait_completed(client, T2V, handle.request_id)
    assert done.error is None
    with pytest.raises(FalClientHTTPError) as info:
        await client.result(T2V, handle.request_id)
    assert info.value.status_code == 500
    assert "video" in await client.result(T2V, handle.request_id)


async def test_status_errors_then_ok(fake_fal: FakeFal, client: AsyncClient) -> None:
    fake_fal.script_next(JobScript(queue_seconds=0, run_seconds=0.05, status_errors=2))
    handle = await client.submit(T2V, t2v_args())
    for _ in range(2):
        with pytest.raises(FalClientHTTPError) as info:
            await client.status(T2V, handle.request_id, with_logs=True)
        assert info.value.status_code == 500
        assert info.value.message == "Internal Server Error"
    assert fake_fal.count(request_id=handle.request_id, kind="status") == 2  # fal_client did not retry
    await wait_completed(client, T2V, handle.request_id)
    assert "video" in await client.result(T2V, handle.request_id)


async def test_cancel_while_queued(fake_fal: FakeFal, client: AsyncClient) -> None:
    fake_fal.script_next(JobScript(queue_seconds=30))
    handle = await client.submit(T2V, t2v_args())
    assert isinstance(await client.status(T2V, handle.request_id), Queued)
    await client.cancel(T2V, handle.request_id)  # 202
    cancel = next(r for r in fake_fal.requests if r.kind == "cancel")
    assert (cancel.method, cancel.status) == ("PUT", 202)

    done = await client.status(T2V, handle.request_id, with_logs=True)
    assert isinstance(done, Completed)
    assert done.error_type == "request_cancelled" and done.logs == []
    with pytest.raises(FalClientHTTPError) as info:
        await client.result(T2V, handle.request_id)
    assert info.value.status_code == 400

    with pytest.raises(FalClientHTTPError) as again:
        await client.cancel(T2V, handle.request_id)
    assert again.value.status_code == 400
    assert again.value.response.json() == {"status": "ALREADY_COMPLETED"}


async def test_cancel_in_progress(fake_fal: FakeFal, client: AsyncClient) -> None:
    fake_fal.script_next(
        JobScript(queue_seconds=0, run_seconds=0.3),
        JobScript(queue_seconds=0, run_seconds=30, honor_cancel_in_progress=True),
    )
    ignored = await client.submit(T2V, t2v_args())
    honoured = await client.submit(T2V, t2v_args())
    assert isinstance(await client.status(T2V, ignored.request_id), InProgress)
    await client.cancel(T2V, ignored.request_id)
    await client.cancel(T2V, honoured.request_id)
    assert "video" in await client.result(T2V, ignored.request_id)  # the app ignored it
    done = await client.status(T2V, honoured.request_id, with_logs=True)
    assert isinstance(done, Completed) and done.error_type == "request_cancelled"
    assert done.logs and done.logs[0]["message"] == "Starting video generation"


async def test_bad_key_and_unknown_ids(fake_fal: FakeFal, client: AsyncClient) -> None:
    bad = AsyncClient(key="wrong-key")
    with pytest.raises(FalClientHTTPError) as info:
        await bad.submit(T2V, t2v_args())
    assert info.value.status_code == 401
    assert isinstance(info.value.message, str) and info.value.message
    assert fake_fal.submissions == []
    assert fake_fal.requests[-1].status == 401

    handle = await client.submit(T2V, t2v_args())
    with pytest.raises(FalClientHTTPError) as info:
        await bad.status(T2V, handle.request_id)
    assert info.value.status_code == 401
    await close_fal_client(bad)

    with pytest.raises(FalClientHTTPError) as info:
        await client.status(T2V, "00000000-0000-0000-0000-000000000000")
    assert info.value.status_code == 404
    with pytest.raises(FalClientHTTPError) as info:
        await client.cancel(T2V, "00000000-0000-0000-0000-000000000000")
    assert info.value.status_code == 404


async def test_result_before_completion_and_wrong_prefix(fake_fal: FakeFal, client: AsyncClient) -> None:
    fake_fal.script_next(JobScript(queue_seconds=30))
    handle = await client.submit(T2V, t2v_args())
    headers = {"Authorization": "Key test-fal-key"}
    async with httpx.AsyncClient(verify=fake_fal.client_ssl_context(), headers=headers) as http:
        early = await http.get(handle.response_url)
        assert early.status_code == 400
        assert early.json() == {"detail": "Request is still in progress"}
        # Status is keyed by the app id, not the endpoint path.
        wrong = await http.get(f"{fake_fal.base_url}/{T2V}/requests/{handle.request_id}/status")
        assert wrong.status_code == 404
        missing = await http.get(f"{fake_fal.base_url}/files/nope.mp4")
        assert missing.status_code == 404


async def test_characters_endpoint(fake_fal: FakeFal, client: AsyncClient) -> None:
    fake_fal.default_script = FAST
    args = {"name": "Captain Corgi", "video_url": "https://example.invalid/corgi.mp4"}
    result = await client.subscribe(CHARACTERS, args)
    assert result["name"] == "Captain Corgi"
    assert result["id"].startswith("char_")


async def test_wait_for_submission_timeout(fake_fal: FakeFal) -> None:
    with pytest.raises(TimeoutError):
        await fake_fal.wait_for_submission(1, timeout=0.1)


def test_make_mp4_of_size_and_probe(tmp_path: Path) -> None:
    target = 12 * 1024 * 1024
    path = media.make_mp4_of_size(tmp_path / "big.mp4", target, seconds=8)
    size = path.stat().st_size
    assert abs(size - target) <= 0.10 * target
    info = media.probe(path)
    codecs = {s["codec_type"]: s["codec_name"] for s in info["streams"]}
    assert codecs == {"video": "h264", "audio": "aac"}
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    assert (video["width"], video["height"], video["pix_fmt"]) == (1280, 720, "yuv420p")
    assert float(info["format"]["duration"]) == pytest.approx(8, abs=0.1)


def test_make_mp4_noisy_is_large(tmp_path: Path) -> None:
    path = media.make_mp4(tmp_path / "noisy.mp4", seconds=8, noisy=True)
    assert 11.5 * 2**20 <= path.stat().st_size <= 13 * 2**20
    assert {s["codec_name"] for s in media.probe(path)["streams"]} == {"h264", "aac"}


def test_probe_rejects_garbage(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 100)
    with pytest.raises(media.MediaError):
        media.probe(junk)
    with pytest.raises(media.MediaError):
        media.probe(tmp_path / "missing.mp4")
