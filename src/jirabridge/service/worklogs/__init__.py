"""Time entries and their Jira worklogs, written as the right person, and edits made in Jira."""
