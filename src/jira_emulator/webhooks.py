"""Webhook delivery: every event on the bus becomes one delivery per matching webhook, sent from an
asyncio task so the request that caused it never waits.

Like Jira: at least once, in no guaranteed order, a failed delivery (connection error, timeout,
408/409/425/429, 5xx) retried up to 5 times with a backoff. `X-Atlassian-Webhook-Identifier` stays the
same across retries. Admin webhooks with a secret carry `X-Hub-Signature: sha256=<hex HMAC>` of the raw
body; an OAuth app's dynamic webhooks carry a JWT signed with the app's client secret.

Deliveries belong to the state they were scheduled in: after `POST /_emulator/reset` replaces
`app.state.emulator`, pending ones stop before their next attempt.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from jira_emulator.events import EventBus, JiraEvent
from jira_emulator.state import Delivery, EmulatorState, Issue, Site, Webhook
from jira_emulator.webhook_filters import FilterCache
from jira_emulator.webhook_payloads import JqlMatcher, build_payload, matches, payload_ctx
from jira_emulator.webhook_send import Outgoing, send_with_retries

# Jira's documented schedule is "up to 5 retries with a backoff"; tests make it short.
DEFAULT_RETRY_DELAYS_S = (5.0, 10.0, 20.0, 40.0, 80.0)
MAX_RETRIES = 5


@dataclass
class WebhookSettings:
    retry_delays_s: list[float] = field(default_factory=lambda: list(DEFAULT_RETRY_DELAYS_S))
    timeout_s: float = 20.0


@dataclass
class DeliveryFaults:
    """Scripted misbehaviour for tests of a receiver (set through the control API)."""

    drop_next: int = 0  # never sent: a receiver must catch the change by polling
    duplicate_next: int = 0  # each sent twice with the same identifier
    reorder_next: int = 0  # held back, then sent newest first once this many have gathered
    delay_s: float = 0.0  # added before every delivery's first attempt
    held: list[Outgoing] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {
            "drop_next": self.drop_next,
            "duplicate_next": self.duplicate_next,
            "reorder_next": self.reorder_next,
            "delay_s": self.delay_s,
            "held": len(self.held),
        }


class Dispatcher:
    """Owns the pending delivery tasks of one emulator app (`app.state.webhooks`)."""

    def __init__(self, app: FastAPI, transport: httpx.AsyncBaseTransport | None) -> None:
        self.app = app
        self.transport = transport
        self.settings = WebhookSettings()
        self.faults = DeliveryFaults()
        self.tasks: set[asyncio.Task[None]] = set()
        self._state: EmulatorState = app.state.emulator
        self.filters = FilterCache()

    # --- state and reset -----------------------------------------------------------------------

    def current_state(self) -> EmulatorState:
        """The live state; noticing a reset cancels the old state's deliveries and faults."""
        state: EmulatorState = self.app.state.emulator
        if state is not self._state:
            self._state = state
            self.cancel_pending()
            self.faults = DeliveryFaults()
        return state

    def cancel_pending(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for outgoing in self.faults.held:
            outgoing.delivery.status = "cancelled"
        self.faults.held.clear()

    def clear_faults(self) -> None:
        """Back to faithful delivery; deliveries held for reordering go out now, newest first."""
        held = list(reversed(self.faults.held))
        self.faults = DeliveryFaults()
        if held:
            self._spawn(self._send_all(held, 1))

    async def idle(self) -> None:
        """Wait until no delivery is in flight (held, reordered deliveries excepted)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    # --- scheduling ----------------------------------------------------------------------------

    def on_event(self, event: JiraEvent) -> None:
        state = self.current_state()
        if state.sites.get(event.site.name) is not event.site:
            return  # an event of a state that was reset while its request ran
        now = state.now()
        jql = self._jql_matcher(state, event.site)
        matched = [w for w in event.site.webhooks.values() if matches(w, event, now, jql)]
        if not matched:
            return
        bus: EventBus = self.app.state.bus
        payload = build_payload(payload_ctx(state, event, bus), event)
        for webhook in (w for w in matched if w.kind == "admin"):
            body = b"" if webhook.exclude_body else json.dumps(payload).encode()
            self._schedule(state, event, webhook, body)
        # An app's webhooks for the same URL share one delivery naming all of them, as in Jira.
        groups: dict[tuple[str | None, str], list[Webhook]] = {}
        for webhook in (w for w in matched if w.kind == "dynamic"):
            groups.setdefault((webhook.client_id, webhook.url), []).append(webhook)
        for hooks in groups.values():
            ids = [w.id for w in hooks]
            body = json.dumps({**payload, "matchedWebhookIds": ids}).encode()
            self._schedule(state, event, hooks[0], body)

    def _schedule(self, state: EmulatorState, event: JiraEvent, webhook: Webhook, body: bytes) -> None:
        delivery = Delivery(
            identifier=str(uuid.uuid4()),
            webhook_id=webhook.id,
            event=event.name,
            url=webhook.url,
            site=event.site.name,
            client_id=webhook.client_id,
            body=body.decode(),
        )
        state.deliveries.append(delivery)
        outgoing = Outgoing(state=state, site=event.site, webhook=webhook, delivery=delivery, body=body)
        faults = self.faults
        if faults.drop_next > 0:
            faults.drop_next -= 1
            delivery.dropped = True
            delivery.status = "dropped"
            return
        copies = 1
        if faults.duplicate_next > 0:
            faults.duplicate_next -= 1
            copies = 2
        if faults.reorder_next > 0:
            faults.reorder_next -= 1
            faults.held.append(outgoing)
            if faults.reorder_next == 0:
                batch = list(reversed(faults.held))
                faults.held.clear()
                self._spawn(self._send_all(batch, copies))
            return
        self._spawn(self._send_all([outgoing], copies))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _send_all(self, batch: list[Outgoing], copies: int) -> None:
        if self.faults.delay_s > 0:
            await asyncio.sleep(self.faults.delay_s)
        for outgoing in batch:
            for _ in range(copies):
                await send_with_retries(
                    outgoing,
                    transport=self.transport,
                    delays=list(self.settings.retry_delays_s[:MAX_RETRIES]),
                    timeout_s=self.settings.timeout_s,
                    is_current=lambda state: self.app.state.emulator is state,
                )

    def _jql_matcher(self, state: EmulatorState, site: Site) -> JqlMatcher:
        def matcher(webhook: Webhook, issue: Issue) -> bool:
            return self.filters.matches(state, site, webhook.jql_filter or "", issue, webhook.account_id)

        return matcher


def install(app: FastAPI, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
    """Subscribe webhook delivery to the app's event bus. `transport` (for example an
    `httpx.ASGITransport` around a receiver app) replaces real HTTP."""
    dispatcher = Dispatcher(app, transport)
    app.state.webhooks = dispatcher
    app.state.bus.subscribe(dispatcher.on_event)


def dispatcher_of(app: FastAPI) -> Dispatcher:
    found: Dispatcher = app.state.webhooks
    return found


async def drain(app: FastAPI, timeout_s: float = 10.0) -> None:
    """For tests: wait until every scheduled delivery (with its retries) has finished."""
    await asyncio.wait_for(dispatcher_of(app).idle(), timeout_s)
