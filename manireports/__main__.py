"""`python -m manireports` runs the same command line as the `manireports` script."""

from manireports.cli import main

main()
