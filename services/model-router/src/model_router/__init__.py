"""agentbus model-router service."""
