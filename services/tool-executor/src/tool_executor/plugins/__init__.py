"""Example custom tools, registered as entry points in the `agentbus.tools` group."""
