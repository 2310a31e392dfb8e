"""`python -m guardrail` runs the service."""

from .app import main

main()
