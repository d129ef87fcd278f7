"""Routing rules: the ordered list, its preview, and what it does for a new item."""
