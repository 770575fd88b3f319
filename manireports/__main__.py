"""`python -m manireports` runs the same command line as the `manireports` script."""

from importlib import import_module

# The command line is cli.py (inside the package when installed, beside it in a checkout), so it
# is looked up by name rather than imported statically.
import_module("manireports.cli").main()
