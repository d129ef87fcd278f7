"""Which handler runs which kind of operation: a plain `Registry` the worker is built with.

    registry = Registry()
    registry.register(DeliverCallback, make_deliver_handler)   # (Container, JiraPool) -> Handler
    handlers = registry.build(container, pool)                 # {kind: handler}

Nothing registers itself when imported: the built-in kinds are one explicit list,
`jirabridge.workers.handlers.BUILTIN`, and `jirabridge.workers.handlers.builtin_registry` makes a
registry of them (a program or a test with kinds of its own adds them to that registry). Factories
run in `build`, at start-up, with the composition root's parts, so nothing is created before it has
built them. An operation of a kind nobody registered fails for good with reason `unknown_kind` (see
`runner.py`): it can only be fixed by deploying a worker that knows it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from jirabridge.domain.operations import Operation
from jirabridge.domain.outcomes import Handler

if TYPE_CHECKING:
    from jirabridge.adapters.jira_pool import JiraPool
    from jirabridge.bootstrap import Container

# A handler's factory: the composition root's container (settings, clock, secrets, and units of work
# for the handlers that are not steps yet) and the worker's one Jira pool.
HandlerFactory = Callable[["Container", "JiraPool"], Handler]


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

    def build(self, container: Container, pool: JiraPool) -> dict[str, Handler]:
        return {kind: factory(container, pool) for kind, factory in self._factories.items()}
