"""Shared fixtures.

``fal_client`` reads ``FAL_QUEUE_RUN_HOST`` when it is first imported, so the fake fal
server's address is fixed here, at the very top, before any test module imports it.
"""

from __future__ import annotations

import os
import sys

from tests.fakes.ports import FAL_HOST, FAL_PORT

if "fal_client" in sys.modules:  # pragma: no cover - a plugin imported it first
    raise RuntimeError("fal_client was imported before tests/conftest.py could set FAL_QUEUE_RUN_HOST")
os.environ["FAL_QUEUE_RUN_HOST"] = FAL_HOST

from collections.abc import AsyncIterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests.fakes.fal import FakeFal  # noqa: E402

pytest_plugins = ["tests.pg"]  # a real PostgreSQL server: pg_server, pg_url, pg_empty_url


@pytest.fixture
async def fake_fal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeFal]:
    """A running FakeFal on FAL_PORT; SSL_CERT_FILE points at its CA for the test."""
    fal = FakeFal(port=FAL_PORT, tmp_dir=tmp_path / "fakefal")
    await fal.start()
    monkeypatch.setenv("SSL_CERT_FILE", str(fal.ca_path))
    try:
        yield fal
    finally:
        await fal.stop()
