"""What kind of Moodle this is: release, IOMAD layout, SCORM layout, site settings.

Rules that changed between Moodle versions (course progress, SCORM tables, IOMAD table names) are
chosen from what the database itself says, never from configuration, so one manireports reads a
4.1 site and a 5.1 site correctly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from manireports.errors import DatabaseError
from manireports.moodle.connection import MoodleDB

IomadLayout = Literal["classic", "51plus"]
ScormLayout = Literal["pre43", "43plus"]

# Core version numbers of each release ($version in Moodle's version.php).
RELEASES: list[tuple[int, str]] = [
    (2022041900, "4.0"),
    (2022112800, "4.1"),
    (2023042400, "4.2"),
    (2023100900, "4.3"),
    (2024042200, "4.4"),
    (2024100700, "4.5"),
    (2025041400, "5.0"),
    (2025100600, "5.1"),
]

# Logical IOMAD table names used in report SQL, and their names in the 2026 renamed layout.
IOMAD_51PLUS_TABLES = {
    "company": "local_iomad_companies",
    "company_users": "local_iomad_company_users",
    "department": "local_iomad_departments",
    "company_course": "local_iomad_company_courses",
    "iomad_courses": "local_iomad_courses",
    "company_shared_courses": "local_iomad_company_shared_courses",
    "local_iomad_track": "local_iomad_tracks",
}

# Tables every built-in report needs; SCORM and IOMAD tables are checked by layout.
CORE_TABLES = (
    "config",
    "user",
    "course",
    "context",
    "role",
    "role_assignments",
    "role_capabilities",
    "enrol",
    "user_enrolments",
    "modules",
    "course_modules",
    "course_modules_completion",
    "course_completions",
    "quiz",
    "quiz_attempts",
    "quiz_grades",
    "scorm",
    "scorm_scoes",
    "logstore_standard_log",
)


@dataclass(frozen=True)
class SiteInfo:
    """Facts about one Moodle site, read once per command."""

    version: int | None
    release: str | None
    branch: str | None
    iomad: IomadLayout | None
    scorm: ScormLayout | None
    timezone: str | None
    siteadmins: tuple[int, ...]
    missing_tables: tuple[str, ...] = field(default=())

    def at_least(self, branch: str) -> bool:
        """Whether the site runs `branch` (e.g. "5.0") or later; unknown counts as newest."""
        if self.version is None:
            return True
        wanted = dict((name, number) for number, name in RELEASES)[branch]
        return self.version >= wanted

    @property
    def flags(self) -> set[str]:
        """Feature flags for `-- if FLAG` lines in report SQL."""
        found = set()
        if self.iomad:
            found.add("iomad")
        if self.scorm == "43plus":
            found.add("scorm43")
        if self.at_least("5.0"):
            found.add("moodle5")
        return found

    def table_aliases(self) -> dict[str, str]:
        return dict(IOMAD_51PLUS_TABLES) if self.iomad == "51plus" else {}


def branch_of(version: int | None) -> str | None:
    if version is None:
        return None
    name = None
    for number, release in RELEASES:
        if version >= number:
            name = release
    return name


def detect_site(db: MoodleDB) -> SiteInfo:
    """Read the release, layouts and site settings; a database without Moodle is refused."""
    tables = db.table_names()
    if "config" not in tables or "user" not in tables:
        raise DatabaseError(
            f"{db.describe_url()} has no Moodle tables with the prefix {db.prefix!r}; check "
            "[moodle] url and [moodle] prefix."
        )
    config = dict(
        db.fetch_all(
            f"SELECT name, value FROM {db.table('config')} "
            "WHERE name IN ('version', 'release', 'timezone', 'forcetimezone', 'siteadmins')"
        )
    )
    try:
        version: int | None = int(float(config.get("version") or ""))
    except ValueError:
        version = None
    iomad: IomadLayout | None = None
    if "company" in tables and "company_users" in tables:
        iomad = "classic"
    elif "local_iomad_companies" in tables and "local_iomad_company_users" in tables:
        iomad = "51plus"
    scorm: ScormLayout | None = None
    if "scorm_attempt" in tables:
        scorm = "43plus"
    elif "scorm_scoes_track" in tables:
        scorm = "pre43"
    timezone = None
    for name in ("forcetimezone", "timezone"):
        if config.get(name) not in (None, "", "99"):
            timezone = config[name]
            break
    admins = tuple(
        int(part) for part in (config.get("siteadmins") or "").split(",") if part.strip().isdigit()
    )
    missing = [t for t in CORE_TABLES if t not in tables]
    if scorm is None:
        missing.append("scorm_attempt")
    return SiteInfo(
        version=version,
        release=config.get("release"),
        branch=branch_of(version),
        iomad=iomad,
        scorm=scorm,
        timezone=timezone,
        siteadmins=admins,
        missing_tables=tuple(missing),
    )
