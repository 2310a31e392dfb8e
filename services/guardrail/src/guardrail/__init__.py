"""agentbus guardrail: PII, secret and prompt-injection checks under per-tenant policies."""

__version__ = "0.1.0"
