"""`python -m approval`: the same as the `approval` console script."""

from .app import main

main()
