"""Which handler runs which kind of operation.

A handler module registers a factory for each operation it runs (a class of domain/operations.py,
registered under its `KIND`), at import time:

    registry.register(DeliverCallback, make_deliver_handler)   # (Container) -> Handler

and the worker calls `registry.build(container)` once at start-up to get `{kind: handler}`. Factories
run then, not at import, so nothing is created before the composition root has built the container.
`build` first imports the built-in handler modules listed in `BUILTIN_HANDLER_MODULES`, so a worker
runs every kind jirabridge itself enqueues. An operation of a kind nobody registered fails for good
with reason `unknown_kind` (see `runner.py`): it can only be fixed by deploying a worker that knows it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from jirabridge.domain.operations import Operation
from jirabridge.domain.outcomes import Handler

if TYPE_CHECKING:
    from jirabridge.bootstrap import Container

HandlerFactory = Callable[["Container"], Handler]

# Modules that call `register` when imported. Add a module here when it adds a kind.
BUILTIN_HANDLER_MODULES: tuple[str, ...] = (
    "jirabridge.workers.callbacks",
    "jirabridge.workers.jira_handlers",
    "jirabridge.workers.jira_worklogs",
    "jirabridge.workers.inbound_poll",
    "jirabridge.workers.inbound_catch_up",
    "jirabridge.workers.jira_webhooks",
    "jirabridge.workers.jira_admin_webhooks",
    "jirabridge.workers.site_projects",
)


class Registry:
    def __init__(self) -> None:
        self._factories: dict[str, HandlerFactory] = {}

    def register(self, operation: type[Operation] | str, factory: HandlerFactory) -> None:
        """Register the factory of the handler for an operation class (or a kind this release does not
        declare, such as a test's own). A kind has exactly one handler."""
        kind = operation if isinstance(operation, str) else operation.KIND
        known = self._factories.get(kind)
        if known is not None and known is not factory:
            raise ValueError(f"a handler for {kind!r} is already registered")
        self._factories[kind] = factory

    def kinds(self) -> list[str]:
        return sorted(self._factories)

    def build(self, container: Container) -> dict[str, Handler]:
        return {kind: factory(container) for kind, factory in self._factories.items()}


# The process-wide registry the module functions below use.
_registry = Registry()


def register(operation: type[Operation] | str, factory: HandlerFactory) -> None:
    _registry.register(operation, factory)


def load_builtin_handlers() -> None:
    for module in BUILTIN_HANDLER_MODULES:
        importlib.import_module(module)


def build(container: Container) -> dict[str, Handler]:
    """Every registered handler, built-in handler modules included, ready to run."""
    load_builtin_handlers()
    return _registry.build(container)


def kinds() -> list[str]:
    load_builtin_handlers()
    return _registry.kinds()
