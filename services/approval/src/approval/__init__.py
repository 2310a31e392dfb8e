"""agentbus approval service."""
