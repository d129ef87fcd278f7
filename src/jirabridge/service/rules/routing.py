"""What the routing rules do for a new item (SPEC section 3, "Rules"), inside the push's transaction.

When the host pushes an item jirabridge has not seen, the first enabled rule whose query matches it
applies (domain/rules.py):

- the item remembers the rule (`items.rule_id`), and a `rule.matched` event is recorded;
- tickets created by hand for the item later default to the rule's destination (`destination_for`);
- with `auto_create`, a pending link and its `issue.create` operation are added in the same
  transaction, so the ticket is created once, by the worker: a push repeated or retried finds the
  item already there and matches nothing again, and `issue.create` never creates a second issue for
  one link (workers/jira_create.py) even when the worker restarts mid-call.

Only new items are matched: editing rules never re-routes items already pushed. An item deleted and
pushed again is a new item. Auto-create is skipped, with the reason in the event, when the rule's
site is no longer connected, the item's link cardinality forbids another ticket, or a required field
of the create screen cannot be filled from the item; the host can still create the ticket by hand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jirabridge.domain import rules as domain_rules
from jirabridge.domain.cardinality import PENDING_PREFIX, Cardinality, check_link
from jirabridge.domain.items import Item as DomainItem
from jirabridge.errors import Invalid
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.rules import rule_sets
from jirabridge.service.rules.rule_sets import Destination, StoredRule
from jirabridge.service.sites.metadata import CreateScreen
from jirabridge.service.sites.project_rows import project_settings
from jirabridge.service.tickets.ticket_fields import TicketRequest, build_fields
from jirabridge.service.tickets.ticket_queue import queue_create
from jirabridge.service.workspaces import settings as workspace_settings
from jirabridge.storage.events import record_event
from jirabridge.storage.tables import Item, Link

log = logging.getLogger("jirabridge.rules")


@dataclass(frozen=True)
class AutoCreate:
    state: str  # "queued" | "skipped" | "off"
    reason: str | None = None
    detail: str | None = None
    link: Link | None = None


def on_new_item(uow: UnitOfWork, now: datetime, item: Item, domain_item: DomainItem) -> StoredRule | None:
    """Apply the first enabled matching rule to a new item (the caller commits). Returns the rule."""
    rule = domain_rules.first_match(rule_sets.load(uow, item.workspace_id), domain_item)
    if rule is None:
        return None
    item.rule_id = rule.id
    outcome = auto_create(uow, now, item, domain_item, rule) if rule.auto_create else AutoCreate("off")
    data: dict[str, Any] = {
        "rule": {"id": rule.id, "name": rule.name},
        "destination": {
            "site": rule.destination.site,
            "project": rule.destination.project,
            "issue_type": rule.destination.issue_type,
        },
        "auto_create": outcome.state,
    }
    if outcome.reason:
        data["reason"] = outcome.reason
        data["detail"] = outcome.detail
    record_event(
        uow.session,
        workspace_id=item.workspace_id,
        type="rule.matched",
        source="jirabridge",
        at=now,
        item=(item.type, item.id),
        data=data,
    )
    log.info(
        "rules.matched item=%s/%s rule=%s auto_create=%s reason=%s",
        item.type,
        item.id,
        rule.id,
        outcome.state,
        outcome.reason,
    )
    return rule


def auto_create(
    uow: UnitOfWork, now: datetime, item: Item, domain_item: DomainItem, rule: StoredRule
) -> AutoCreate:
    """A pending link to a new issue at the rule's destination and its `issue.create` operation."""
    destination = rule.destination
    site = uow.sites.get(destination.site)
    if site is None or site.workspace_id != item.workspace_id or site.status != "connected":
        return AutoCreate("skipped", "site_not_connected", f"site {destination.site} is not connected")
    violation = _cardinality_violation(uow, item)
    if violation is not None:
        return AutoCreate("skipped", "cardinality", violation)
    if rule.screen is None:
        return AutoCreate("skipped", "rules_not_validated", "save the rules again to validate them")
    try:
        fields = issue_fields(uow, item.workspace_id, destination, rule.screen, domain_item)
    except Invalid as invalid:
        return AutoCreate("skipped", "missing_required_fields", invalid.detail)
    link = queue_create(uow, now, item, site.id, fields, rule_id=rule.id)
    return AutoCreate("queued", link=link)


def issue_fields(
    uow: UnitOfWork, workspace_id: str, destination: Destination, screen: CreateScreen, item: DomainItem
) -> dict[str, Any]:
    """The fields of the issue a rule's `destination` creates for `item`, on its create `screen` with
    the project's settings; `Invalid` names each required field that is missing."""
    settings = project_settings(uow, workspace_id, destination.site, destination.project)
    return build_fields(
        item,
        project=destination.project,
        settings=settings,
        screen=screen,
        request=TicketRequest(),
        rule_fields=destination.fields,
    )


def _cardinality_violation(uow: UnitOfWork, item: Item) -> str | None:
    configured = workspace_settings.load(uow, item.workspace_id).link_cardinality.get(item.type)
    existing = uow.links.for_item(item.workspace_id, item.type, item.id)
    keys = [link.issue_key or f"{PENDING_PREFIX}{link.id}" for link in existing]
    violation = check_link(
        Cardinality(configured or Cardinality.MANY_TO_MANY), keys, [], "(new issue)", (item.type, item.id)
    )
    return violation.reason if violation else None


def destination_for(uow: UnitOfWork, workspace_id: str, rule_id: str | None) -> Destination | None:
    """The destination of the rule an item matched when it was new, while that rule exists and is
    enabled: the default of tickets created by hand for the item."""
    if rule_id is None:
        return None
    rule = rule_sets.find(uow, workspace_id, rule_id)
    return rule.destination if rule is not None and rule.enabled else None
