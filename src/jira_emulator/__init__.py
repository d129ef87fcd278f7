"""An emulator of the Jira Cloud REST API for tests, demos and benchmarks. Never imports jirabridge."""

from jira_emulator.app import create_app
from jira_emulator.seed import Seed, default_seed

__all__ = ["Seed", "create_app", "default_seed"]
