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

from manireports.config import Config, Settings, data_dir
from manireports.errors import ConfigError, DatabaseError, SchemaBehindError
from manireports.moodle.connection import MoodleDB
from manireports.moodle.detect import SiteInfo, detect_site

if TYPE_CHECKING:
    from manireports.state.binding import SiteBinding
    from manireports.state.store import StateDB

Notice = Callable[[str], None]


def demo_database_path() -> Path:
    return data_dir() / "demo.sqlite"


class App:
    """Configuration plus the databases and site facts derived from it."""

    def __init__(self, config: Config, notice: Notice | None = None) -> None:
        self.config = config
        self._notice = notice or (lambda _message: None)
        # The site's address when config.php names it, for messages about the state's site.
        self.wwwroot: str | None = None

    @property
    def settings(self) -> Settings:
        return self.config.settings

    def moodle_configured(self) -> bool:
        """Whether a Moodle database is named ([moodle] url or config_php) or the demo exists."""
        config = self.config
        named = config.settings.moodle.url or config.settings.moodle.config_php
        return bool(named) or demo_database_path().is_file()

    @cached_property
    def moodle(self) -> MoodleDB:
        config = self.config
        timeout = config.settings.reports.timeout_seconds
        driver = config.settings.moodle.mysql_driver
        url = config.settings.moodle.url
        prefix = config.settings.moodle.prefix
        if url:
            return MoodleDB(url, prefix=prefix, timeout_seconds=timeout, mysql_driver=driver)
        config_php = config.settings.moodle.config_php
        if config_php:
            from manireports.moodle.config_php import moodle_url, read_config_php

            site = read_config_php(config_php)
            self.wwwroot = site.wwwroot
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
        name = self.settings.site.timezone
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
    def site_binding(self) -> SiteBinding | None:
        """The running Moodle's identity, which the state database must be bound to; None when
        the database is not a Moodle site."""
        from manireports.state.binding import site_of

        return site_of(self.moodle, self.wwwroot)

    def require_site_binding(self) -> SiteBinding:
        """The site's identity, for commands that bind; a database without Moodle is refused."""
        site = self.site_binding
        if site is None:
            self.site  # noqa: B018 - detect_site refuses a database without Moodle's tables
            raise DatabaseError(
                f"{self.moodle.describe_url()} has no readable {self.moodle.table('config')} "
                "table; check [moodle] url and [moodle] prefix."
            )
        return site

    @cached_property
    def state(self) -> StateDB:
        """The state database, current and bound to this Moodle site.

        When a Moodle database is configured, the state must belong to its site (see
        manireports.state.binding): otherwise one site's caches and sessions would answer
        another's reports.
        """
        from manireports.state.binding import check_binding, read_binding, refuse_moodle_database

        state = self.own_state
        moodle = self.moodle if self.moodle_configured() else None
        site = None if moodle is None else self.site_binding
        if moodle is not None and site is not None:
            # Looking for Moodle's tables costs a catalogue query, so only before binding.
            if read_binding(state) is None:
                refuse_moodle_database(state, moodle)
            check_binding(state, site)
        return state

    @cached_property
    def own_state(self) -> StateDB:
        """The state database, current, without asking Moodle which site it is.

        For what manireports records about itself (cron job runs and their alerts), which must
        be written precisely when Moodle is down. The default local SQLite database is created
        (or upgraded) on first use, so a first run needs no `db upgrade`; a configured one is
        migrated only by `db upgrade`, which an operator runs once for every host that shares it.
        """
        from manireports.state.binding import refuse_moodle_database
        from manireports.state.store import StateDB, head_revision

        url = self.settings.state.url
        state = StateDB(url, file_mode=self.config.file_mode())
        moodle = self.moodle if self.moodle_configured() else None
        refuse_moodle_database(state, moodle, look_inside=False)
        revision = state.current_revision()
        if url is None and revision != head_revision():
            _before, revision = state.upgrade()
        try:
            state.require_current(revision)
        except SchemaBehindError:
            # A state URL naming Moodle's database under another spelling looks empty: say so.
            refuse_moodle_database(state, moodle)
            raise
        return state

    def now(self) -> int:
        return int(time.time())

    def notice(self, message: str) -> None:
        """Tell the operator something worth knowing about the run (stderr on the CLI)."""
        self._notice(message)
