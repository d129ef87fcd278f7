"""Request and response bodies. Requests are strict (`false` is not an integer) and refuse unknown
fields, so a typo is a clear 422 instead of a silently ignored setting."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
