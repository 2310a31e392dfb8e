"""agentbus approval: human-in-the-loop checkpoints with deadlines, quorum and escalation."""

__version__ = "0.1.0"
