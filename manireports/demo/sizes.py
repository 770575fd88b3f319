"""Demo sizes, Moodle release facts, and the clock every generated timestamp hangs off."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property

from manireports.errors import InputError
from manireports.moodle.schema import IomadLayout, ScormLayout

DAY = 86_400
HISTORY_DAYS = 180


@dataclass(frozen=True)
class Size:
    """How big a site to build. `sessions` scales the log: extra browsing sessions per week."""

    name: str
    users: int
    courses: int
    companies: int
    sessions: float


SIZES = {
    "small": Size("small", users=320, courses=15, companies=3, sessions=0.45),
    "medium": Size("medium", users=3_000, courses=60, companies=6, sessions=0.3),
    "large": Size("large", users=30_000, courses=200, companies=12, sessions=0.3),
}


@dataclass(frozen=True)
class Release:
    """What a Moodle release writes to its config, and which table layouts it has."""

    name: str
    version: str
    build: str
    branch: str
    scorm: ScormLayout
    quiz_states_50: bool

    @property
    def release_string(self) -> str:
        return f"{self.name} (Build: {self.build})"

    @property
    def iomad_layout(self) -> IomadLayout:
        # IOMAD's renamed local_iomad_* tables come with the public/ code tree of Moodle 5.1.
        return "51plus" if self.name == "5.1" else "classic"

    @property
    def iomad_version(self) -> str:
        if self.iomad_layout == "51plus":
            return "2026022345"
        return self.version[:8] + "45"


RELEASES = {
    "4.1": Release("4.1", "2022112800", "20221128", "401", "pre43", False),
    "4.2": Release("4.2", "2023042400", "20230424", "402", "pre43", False),
    "4.3": Release("4.3", "2023100900", "20231009", "403", "43plus", False),
    "4.4": Release("4.4", "2024042200", "20240422", "404", "43plus", False),
    "4.5": Release("4.5", "2024100700", "20241007", "405", "43plus", False),
    "5.0": Release("5.0", "2025041400", "20250414", "500", "43plus", True),
    "5.1": Release("5.1", "2025100600", "20251006", "501", "43plus", True),
}


def pick_size(name: str) -> Size:
    try:
        return SIZES[name]
    except KeyError:
        raise InputError(f"Unknown demo size {name!r}; choose one of {', '.join(SIZES)}.") from None


def pick_release(name: str) -> Release:
    try:
        return RELEASES[name]
    except KeyError:
        raise InputError(
            f"Unknown Moodle release {name!r} for the demo; choose one of {', '.join(RELEASES)}."
        ) from None


@dataclass(frozen=True)
class Clock:
    """The demo's "now": midnight UTC at the start of the anchor day; history ends there."""

    anchor: dt.date

    @cached_property
    def now(self) -> int:
        return int(dt.datetime.combine(self.anchor, dt.time(), tzinfo=dt.UTC).timestamp())

    @property
    def history_start(self) -> int:
        return self.now - HISTORY_DAYS * DAY

    def days_ago(self, days: float) -> int:
        return int(self.now - days * DAY)
