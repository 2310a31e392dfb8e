"""agentbus planner: governed, versioned DAG workflows run as durable state machines."""

__version__ = "0.1.0"
