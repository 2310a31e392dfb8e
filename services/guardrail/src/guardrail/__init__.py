"""agentbus guardrail service."""
