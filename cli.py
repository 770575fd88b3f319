"""`python cli.py ...` in a checkout runs the command line, the same as `manireports ...`."""

from manireports.cli import main

if __name__ == "__main__":
    main()
