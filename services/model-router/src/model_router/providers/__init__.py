"""Provider adapters: OpenAI-compatible, Anthropic Messages, and a deterministic local one."""

from .base import Delta, Finish, Provider, StreamEvent
from .factory import build_providers

__all__ = ["Delta", "Finish", "Provider", "StreamEvent", "build_providers"]
