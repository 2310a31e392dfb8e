"""`python -m evaluation`: the same as the `evaluation` console script."""

from .app import main

main()
