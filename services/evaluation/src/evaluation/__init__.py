"""agentbus evaluation: datasets, scorers, the publish gate and AgentOps."""

__version__ = "0.1.0"
