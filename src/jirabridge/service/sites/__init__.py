"""Connected Jira sites and what the service knows of them: connections (API token, OAuth), users'
own connections, project settings, metadata and look-ups, each site's projects and webhook."""
