"""agentbus audit service."""
