"""agentbus planner service."""
