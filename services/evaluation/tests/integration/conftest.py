"""Integration tests need the real broker and databases (agentbus.testing plugin)."""
