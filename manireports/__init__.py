"""manireports: reporting for Moodle and IOMAD sites.

The package is the library (Moodle access, state, SQL validation, scope, reports, export, time,
analytics, schedule, mail, cloud) and, in `manireports.cli`, the command line. The cron jobs'
helpers (`jobs/`) and the built-in reports' SQL (`sql/`) stand beside it at the top of a source
checkout and inside it in an installed wheel; in a checkout they are reached through the package
path below, so `manireports.jobs` and `manireports.sql` name the same modules either way. The
package's own directory comes first on that path, so nothing at the top of a checkout (the
`cli.py` that starts the command line) can stand in for a module of the package.
"""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

_checkout = Path(__file__).resolve().parent.parent
if (_checkout / "jobs").is_dir() and (_checkout / "pyproject.toml").is_file():
    __path__.append(str(_checkout))
