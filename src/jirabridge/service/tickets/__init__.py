"""Items and their Jira issues going out: creating or linking a ticket, status, assignee and
comments pushed to Jira, and what each outbound operation's outcome means to the links."""
