"""Usage when a provider reports none: estimated from the text, and flagged as estimated."""

from __future__ import annotations

from ..domain import ChatRequest, Usage, estimate_prompt_tokens, estimate_text_tokens

__all__ = ["estimated_usage"]


def estimated_usage(request: ChatRequest, completion: str) -> Usage:
    """An estimate of a call's usage, flagged `estimated=True`."""
    return Usage(
        estimate_prompt_tokens(request), max(1, estimate_text_tokens(completion)), estimated=True
    )
