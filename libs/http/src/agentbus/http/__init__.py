"""agentbus HTTP: app factory, tenant authentication, JSON errors, health."""
