"""Workspaces, their API keys and settings, the event feed and its callbacks, embeddable sessions."""
