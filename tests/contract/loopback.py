"""The emulator served by uvicorn on a free 127.0.0.1 port in a background thread, for synchronous
clients (`requests`) that need a real socket."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI


@dataclass(frozen=True)
class Loopback:
    """A running emulator: `url` is the base URL of the seed's first site as a client configures it
    (the host `127.0.0.1` names no site, so the first one answers)."""

    url: str
    app: FastAPI

    def site(self, name: str) -> str:
        """The base URL of another site, through the `/sites/{name}` path prefix."""
        return f"{self.url}/sites/{name}"


@contextmanager
def serve(app: FastAPI, *, start_timeout_s: float = 10) -> Iterator[Loopback]:
    # Bind first so the port is known (and held) before the server thread starts.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", ws="none")
    server = uvicorn.Server(config)
    # uvicorn installs no signal handlers outside the main thread, so it can run in this one.
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"emulator:{port}", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + start_timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the loopback emulator did not start")
            time.sleep(0.01)
        yield Loopback(url=f"http://127.0.0.1:{port}", app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
