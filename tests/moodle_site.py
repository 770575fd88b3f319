"""A tiny builder of hand-made Moodle sites for tests whose expected values are worked out by hand.

It creates Moodle's real tables (from the package's schema description) on any engine and offers
a few verbs (user, course, enrol, assign a role, complete) that write rows the way Moodle does.
Columns a test does not care about get Moodle's defaults, or an empty value where Moodle has none.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from manireports.moodle.schema import DEMO_TABLES, create_moodle_tables

RELEASE_VERSIONS = {
    "4.1": ("2022112800", "4.1 (Build: 20221128)"),
    "4.2": ("2023042400", "4.2 (Build: 20230424)"),
    "4.5": ("2024100700", "4.5 (Build: 20241007)"),
    "5.0": ("2025041400", "5.0 (Build: 20250414)"),
    "5.1": ("2025100600", "5.1 (Build: 20251006)"),
}
STANDARD_ROLES = (
    "manager",
    "coursecreator",
    "editingteacher",
    "teacher",
    "student",
    "guest",
    "user",
    "frontpage",
)


class MoodleSite:
    """Writes a small Moodle site into an empty database."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "mdl_",
        release: str = "4.5",
        iomad: bool = True,
        timezone: str = "UTC",
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.engine = sa.create_engine(url)
        if self.engine.dialect.name == "sqlite":
            # Test data need not survive a power cut; without fsync per insert builds are fast.
            @sa.event.listens_for(self.engine, "connect")
            def _fast(dbapi_connection: Any, _record: Any) -> None:
                dbapi_connection.execute("PRAGMA synchronous = OFF")
                dbapi_connection.execute("PRAGMA journal_mode = MEMORY")

        scorm = "pre43" if release in ("4.1", "4.2") else "43plus"
        self.metadata = create_moodle_tables(
            self.engine, prefix, DEMO_TABLES, scorm=scorm, iomad="classic" if iomad else None
        )
        version, release_text = RELEASE_VERSIONS[release]
        for name, value in (
            ("version", version),
            ("release", release_text),
            ("timezone", timezone),
            ("siteadmins", "2"),
            ("siteguest", "1"),
        ):
            self.insert("config", name=name, value=value)
        self.system_context = self.insert(
            "context", contextlevel=10, instanceid=0, path="", depth=1
        )
        self.update("context", self.system_context, path=f"/{self.system_context}")
        self.roles = {
            shortname: self.insert(
                "role", shortname=shortname, archetype=shortname, name="", description="",
                sortorder=index + 1,
            )
            for index, shortname in enumerate(STANDARD_ROLES)
        }  # fmt: skip
        self.insert(
            "role_capabilities",
            contextid=self.system_context,
            roleid=self.roles["student"],
            capability="moodle/course:isincompletionreports",
            permission=1,
        )
        # The first two users get ids 1 and 2, as guest and admin do on a real site.
        assert self.user("guest") == 1
        assert self.user("admin") == 2
        self.site_course = self.course("site", format="site", enablecompletion=0)

    # -- generic writes ----------------------------------------------------------------

    def table(self, name: str) -> sa.Table:
        return self.metadata.tables[self.prefix + name]

    def _filled(self, table: sa.Table, values: dict[str, Any]) -> dict[str, Any]:
        row = dict(values)
        for column in table.columns:
            if column.name in row or column.nullable or column.server_default is not None:
                continue
            if column.primary_key:
                continue
            row[column.name] = 0 if isinstance(column.type, (sa.Integer, sa.Numeric)) else ""
        return row

    def insert_many(self, table_name: str, rows: list[dict[str, Any]]) -> None:
        """Many rows in one statement, for tests that need volume."""
        table = self.table(table_name)
        with self.engine.begin() as connection:
            connection.execute(table.insert(), [self._filled(table, row) for row in rows])

    def insert(self, table_name: str, /, **values: Any) -> int:
        table = self.table(table_name)
        row = self._filled(table, values)
        with self.engine.begin() as connection:
            result = connection.execute(table.insert().values(**row))
            key = result.inserted_primary_key
        return int(key[0]) if key and key[0] is not None else 0

    def update(self, table_name: str, row_id: int, /, **values: Any) -> None:
        table = self.table(table_name)
        with self.engine.begin() as connection:
            connection.execute(table.update().where(table.c.id == row_id).values(**values))

    # -- Moodle verbs --------------------------------------------------------------------

    def user(self, username: str, **values: Any) -> int:
        defaults = {
            "auth": "manual",
            "confirmed": 1,
            "mnethostid": 1,
            "firstname": username.capitalize(),
            "lastname": "Tester",
            "email": f"{username}@example.org",
            "timezone": "99",
        }
        defaults.update(values)
        return self.insert("user", username=username, **defaults)

    def course(self, shortname: str, **values: Any) -> int:
        defaults: dict[str, Any] = {
            "category": 1,
            "fullname": f"Course {shortname}",
            "enablecompletion": 1,
            "format": "topics",
            "visible": 1,
        }
        defaults.update(values)
        course_id = self.insert("course", shortname=shortname, **defaults)
        context = self.insert("context", contextlevel=50, instanceid=course_id, path="", depth=2)
        self.update("context", context, path=f"/{self.system_context}/{context}")
        return course_id

    def course_context(self, course_id: int) -> int:
        table = self.table("context")
        with self.engine.connect() as connection:
            found = connection.execute(
                sa.select(table.c.id).where(
                    table.c.contextlevel == 50, table.c.instanceid == course_id
                )
            ).scalar_one()
        return int(found)

    def enrol_instance(self, course_id: int, method: str = "manual", status: int = 0) -> int:
        return self.insert(
            "enrol", courseid=course_id, enrol=method, status=status, roleid=self.roles["student"]
        )

    def enrol(
        self,
        user_id: int,
        course_id: int,
        *,
        method: str = "manual",
        status: int = 0,
        timestart: int = 0,
        timeend: int = 0,
        timecreated: int = 1_700_000_000,
        instance: int | None = None,
        role: str | None = "student",
    ) -> int:
        enrol_id = instance if instance is not None else self.enrol_instance(course_id, method)
        ue = self.insert(
            "user_enrolments",
            enrolid=enrol_id,
            userid=user_id,
            status=status,
            timestart=timestart,
            timeend=timeend,
            timecreated=timecreated,
            timemodified=timecreated,
        )
        if role:
            self.assign(user_id, self.course_context(course_id), role)
        return ue

    def assign(self, user_id: int, context_id: int, role: str) -> int:
        return self.insert(
            "role_assignments", roleid=self.roles[role], contextid=context_id, userid=user_id
        )

    def complete(self, user_id: int, course_id: int, timecompleted: int | None) -> int:
        return self.insert(
            "course_completions",
            userid=user_id,
            course=course_id,
            timeenrolled=0,
            timestarted=0,
            timecompleted=timecompleted,
        )

    def dispose(self) -> None:
        self.engine.dispose()
