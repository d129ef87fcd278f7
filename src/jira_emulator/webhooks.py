"""Webhook delivery (stub)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI


def install(app: FastAPI, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
    pass
