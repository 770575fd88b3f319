"""The objects one command works with, resolved lazily from the configuration.

A command that only prints help or the configuration never connects anywhere; a report connects
to Moodle once, reads the site's facts once, and opens the state database only to record the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from manireports.config import Config, data_dir
from manireports.errors import ConfigError
from manireports.moodle.connection import MoodleDB, MysqlDriver
from manireports.moodle.detect import SiteInfo, detect_site

if TYPE_CHECKING:
    from manireports.state.store import StateDB

Notice = Callable[[str], None]


def demo_database_path() -> Path:
    return data_dir() / "demo.sqlite"


class App:
    """Configuration plus the databases and site facts derived from it."""

    def __init__(self, config: Config, notice: Notice | None = None) -> None:
        self.config = config
        self._notice = notice or (lambda _message: None)

    @cached_property
    def moodle(self) -> MoodleDB:
        config = self.config
        timeout = config.get_int("reports.timeout_seconds")
        driver: MysqlDriver = config.get("moodle.mysql_driver")
        url = config.get_opt_str("moodle.url")
        prefix = config.get_str("moodle.prefix")
        if url:
            return MoodleDB(url, prefix=prefix, timeout_seconds=timeout, mysql_driver=driver)
        config_php = config.get_opt_str("moodle.config_php")
        if config_php:
            from manireports.moodle.config_php import moodle_url, read_config_php

            site = read_config_php(config_php)
            return MoodleDB(
                moodle_url(site),
                prefix=site.prefix if config.origin("moodle.prefix") == "default" else prefix,
                timeout_seconds=timeout,
                mysql_driver=driver,
                source=f"[moodle] config_php {config_php}",
            )
        demo = demo_database_path()
        if demo.is_file():
            self._notice(f"No Moodle database is configured; using the demo database at {demo}.")
            return MoodleDB(
                f"sqlite:///{demo}", prefix="mdl_", timeout_seconds=timeout, source="the demo"
            )
        raise ConfigError(
            "No Moodle database is configured. Set [moodle] url or [moodle] config_php in "
            "manireports.toml (or MANIREPORTS_MOODLE_URL), or run `manireports demo init` to try "
            "the demo."
        )

    @cached_property
    def site(self) -> SiteInfo:
        return detect_site(self.moodle)

    @cached_property
    def timezone(self) -> ZoneInfo:
        """[site] timezone, else the Moodle site's own setting, else UTC."""
        name = self.config.get_opt_str("site.timezone")
        origin = f"[site] timezone ({self.config.origin('site.timezone')})"
        if not name:
            name, origin = self.site.timezone or "UTC", "the Moodle site's timezone setting"
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"{name!r} from {origin} is not a known timezone; use a name like Europe/London."
            ) from None

    @cached_property
    def state(self) -> StateDB:
        from manireports.state.store import StateDB

        state = StateDB(self.config.get_opt_str("state.url"), file_mode=self.config.file_mode())
        state.require_current()
        return state

    def now(self) -> int:
        return int(time.time())

    def notice(self, message: str) -> None:
        """Tell the operator something worth knowing about the run (stderr on the CLI)."""
        self._notice(message)
