"""agentbus audit service: an append-only, hash-chained, replayable audit trail."""

__version__ = "0.1.0"
