"""Ports chosen once per test process, before anything imports ``fal_client``.

``fal_client`` reads ``FAL_QUEUE_RUN_HOST`` when it is imported, so the fake fal server
has to live on a port known up front; ``tests/conftest.py`` exports it at import time.
"""

from __future__ import annotations

import socket


def pick_free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago (the OS picked it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


FAL_PORT: int = pick_free_port()
FAL_HOST: str = f"127.0.0.1:{FAL_PORT}"
