"""`python -m audit`: the audit command."""

from .app import main

main()
