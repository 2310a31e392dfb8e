"""agentbus guard: pure detection (PII, secrets, prompt injection) and per-tenant policies."""
