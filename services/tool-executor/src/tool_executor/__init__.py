"""agentbus tool-executor service."""
