"""Jira's changes coming in: webhooks, polls and catch-ups applied to the linked items."""
