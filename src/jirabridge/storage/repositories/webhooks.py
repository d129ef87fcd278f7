"""Webhook deliveries already taken, by site and Jira's delivery identifier (duplicates are dropped)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jirabridge.storage.tables import WebhookDelivery


class WebhookDeliveries:
    __slots__ = ("_session",)

    def __init__(self, session: Session) -> None:
        self._session = session

    def seen(self, site_id: str, identifier: str) -> bool:
        return self._session.get(WebhookDelivery, (site_id, identifier)) is not None

    def take(self, site_id: str, identifier: str, now: datetime) -> bool:
        """Record the delivery as taken; False when it was taken already (then the transaction is rolled
        back). The same delivery arriving twice at once waits here on the other's row (PostgreSQL;
        SQLite runs one writer at a time), and then is not taken."""
        self._session.add(WebhookDelivery(site_id=site_id, identifier=identifier, received_at=now))
        try:
            self._session.flush()
        except IntegrityError:
            self._session.rollback()
            return False
        return True

    def forget_before(self, moment: datetime) -> None:
        self._session.execute(delete(WebhookDelivery).where(WebhookDelivery.received_at < moment))
