"""manireports: reporting for Moodle and IOMAD sites.

The package is the library (Moodle access, state, SQL validation, scope, reports, export, time,
analytics, schedule, mail, cloud). The command-line layer (`cli.py`), the cron jobs (`jobs/`) and
the built-in reports' SQL (`sql/`) stand beside it at the top of a source checkout and inside it
in an installed wheel; in a checkout they are reached through the package path below, so
`manireports.cli`, `manireports.jobs` and `manireports.sql` name the same modules either way.
"""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

_checkout = Path(__file__).resolve().parent.parent
if (_checkout / "cli.py").is_file() and (_checkout / "pyproject.toml").is_file():
    __path__.append(str(_checkout))
