"""jirabridge: a complete Jira Cloud integration for any application, as a service and a library."""

__version__ = "0.1.0"
