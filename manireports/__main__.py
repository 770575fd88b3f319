"""`python -m manireports` runs the same command line as the `manireports` script."""

from manireports.cli import main  # type: ignore[import-not-found]  # cli.py, see __init__

main()
