"""scorm_summary on both SCORM layouts and every engine, plus the SCORM time and score readers.

The same hand-made tracking data is written into a Moodle 4.1 site (scorm_scoes_track) and a 4.5
site (scorm_attempt + scorm_element + scorm_scoes_value); both must give the same rows. Expected
values are worked out in the comments from Moodle's rules (mod/scorm/locallib.php), not from
running the report.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from manireports.errors import InputError
from manireports.reports.steps.scorm import (
    attempt_score,
    is_scorm_2004,
    parse_scorm_duration,
    php_float,
    php_round,
    scorm_raw_score,
)
from tests.moodle_site import MoodleSite
from tests.reporting import report_rows

T0 = 1_750_000_000  # timemodified of the tracking values: T0 + a few seconds each


@dataclass
class Scorm:
    """A tiny SCORM writer: tracking values the way each layout stores them."""

    site: MoodleSite
    layout: str  # "pre43" or "43plus"
    attempts: dict[tuple[int, int, int], int] = field(default_factory=dict)
    elements: dict[str, int] = field(default_factory=dict)

    def activity(
        self,
        course: int,
        name: str,
        *,
        version: str,
        grademethod: int,
        whatgrade: int,
        maxattempt: int = 0,
    ) -> int:
        return self.site.insert(
            "scorm",
            course=course,
            name=name,
            reference="package.zip",
            intro="",
            version=version,
            maxgrade=100,
            grademethod=grademethod,
            whatgrade=whatgrade,
            maxattempt=maxattempt,
            md5hash="",
            options="",
        )

    def sco(self, scorm: int, identifier: str, scormtype: str = "sco", sortorder: int = 0) -> int:
        return self.site.insert(
            "scorm_scoes",
            scorm=scorm,
            manifest="manifest",
            organization="org",
            parent="org",
            identifier=identifier,
            launch=f"{identifier}.html",
            scormtype=scormtype,
            title=identifier,
            sortorder=sortorder,
        )

    def attempt(self, user: int, scorm: int, attempt: int) -> int:
        """The scorm_attempt row (4.3+); before 4.3 an attempt exists only through its values."""
        key = (user, scorm, attempt)
        if self.layout == "43plus" and key not in self.attempts:
            self.attempts[key] = self.site.insert(
                "scorm_attempt", userid=user, scormid=scorm, attempt=attempt
            )
        return self.attempts.get(key, 0)

    def track(
        self, user: int, scorm: int, sco: int, attempt: int, element: str, value: str, at: int
    ) -> None:
        if self.layout == "pre43":
            self.site.insert(
                "scorm_scoes_track",
                userid=user,
                scormid=scorm,
                scoid=sco,
                attempt=attempt,
                element=element,
                value=value,
                timemodified=T0 + at,
            )
            return
        if element not in self.elements:
            self.elements[element] = self.site.insert("scorm_element", element=element)
        self.site.insert(
            "scorm_scoes_value",
            scoid=sco,
            attemptid=self.attempt(user, scorm, attempt),
            elementid=self.elements[element],
            value=value,
            timemodified=T0 + at,
        )

    def launch(self, user: int, scorm: int, sco: int, attempt: int, at: int) -> None:
        """What Moodle's player writes when it opens a SCO in an attempt."""
        self.track(user, scorm, sco, attempt, "x.start.time", str(T0 + at), at)


@dataclass
class Built:
    site: MoodleSite
    ids: dict[str, int]


def build(url: str, release: str) -> Built:
    site = MoodleSite(url, release=release)
    w = Scorm(site, "pre43" if release in ("4.1", "4.2") else "43plus")
    course = site.course("A")
    other = site.course("B")
    u1 = site.user("u1")
    u2 = site.user("u2")
    u3 = site.user("u3")
    gone = site.user("gone", deleted=1)
    ids: dict[str, int] = {"course": course, "other": other}

    # --- 1.2, highest SCO score (1), highest attempt (0) --------------------------------------
    s = ids["s12"] = w.activity(
        course, "1.2 highest", version="SCORM_12", grademethod=1, whatgrade=0
    )
    sco1, sco2 = w.sco(s, "one"), w.sco(s, "two")
    asset = w.sco(s, "leaflet", "asset")
    # u1 attempt 1: sco1 incomplete, 40, 10 min; sco2 empty score (ignored), 5 min 30.5 s;
    #   the asset "completed" (what Moodle writes when an asset is opened), no score.
    #   Attempt score: highest of (40) = 40.
    w.launch(u1, s, sco1, 1, 1)
    w.track(u1, s, sco1, 1, "cmi.core.lesson_status", "incomplete", 2)
    w.track(u1, s, sco1, 1, "cmi.core.score.raw", "40", 3)
    w.track(u1, s, sco1, 1, "cmi.core.total_time", "00:10:00", 4)
    w.launch(u1, s, sco2, 1, 5)
    w.track(u1, s, sco2, 1, "cmi.core.score.raw", "", 6)
    w.track(u1, s, sco2, 1, "cmi.core.total_time", "0000:05:30.50", 7)
    w.launch(u1, s, asset, 1, 8)
    w.track(u1, s, asset, 1, "cmi.core.lesson_status", "completed", 9)
    # u1 attempt 2: sco1 passed, 85.456 (read as 85.46), 1 h; sco2 failed, score 0 (ignored).
    #   Attempt score: 85.46. Highest attempt: max(40, 85.46) = 85.46.
    w.launch(u1, s, sco1, 2, 20)
    w.track(u1, s, sco1, 2, "cmi.core.lesson_status", "passed", 21)
    w.track(u1, s, sco1, 2, "cmi.core.score.raw", "85.456", 22)
    w.track(u1, s, sco1, 2, "cmi.core.total_time", "01:00:00", 23)
    w.track(u1, s, sco1, 2, "cmi.core.session_time", "00:20:00", 30)
    w.track(u1, s, sco2, 2, "cmi.core.lesson_status", "failed", 24)
    w.track(u1, s, sco2, 2, "cmi.core.score.raw", "0", 25)
    # Values the report does not read do not change anything.
    w.track(u1, s, sco2, 2, "cmi.suspend_data", "completed", 99)
    #   totaltime 600 + 330.5 + 3600 = 4530.5 -> 4531; completed (passed); lastaccess T0 + 30.
    # u2 only opened the asset: one attempt, completed (Moodle counts the asset), no score.
    w.launch(u2, s, asset, 1, 40)
    w.track(u2, s, asset, 1, "cmi.core.lesson_status", "completed", 41)
    # A deleted user is never listed.
    w.launch(gone, s, sco1, 1, 50)
    w.track(gone, s, sco1, 1, "cmi.core.lesson_status", "passed", 51)

    # --- 1.2, sum of SCO scores (3), first attempt (2); attempts numbered from 3 ---------------
    s = ids["s12sum"] = w.activity(
        course, "1.2 sum", version="SCORM_1.2", grademethod=3, whatgrade=2
    )
    sco1, sco2 = w.sco(s, "one"), w.sco(s, "two")
    # attempt 3: 30 + 45.5 = 75.5 (first attempt, so the score); attempt 4: 90 + 90 = 180.
    w.launch(u1, s, sco1, 3, 1)
    w.track(u1, s, sco1, 3, "cmi.core.score.raw", "30", 2)
    w.track(u1, s, sco2, 3, "cmi.core.score.raw", "45.5", 3)
    w.launch(u1, s, sco1, 4, 4)
    w.track(u1, s, sco1, 4, "cmi.core.score.raw", "90", 5)
    w.track(u1, s, sco2, 4, "cmi.core.score.raw", "90", 6)
    w.track(u1, s, sco1, 4, "cmi.core.lesson_status", "completed", 7)

    # --- 2004, average of SCO scores (2), average of attempts (1) ------------------------------
    s = ids["s04avg"] = w.activity(
        course, "2004 average", version="SCORM_13", grademethod=2, whatgrade=1
    )
    sco1, sco2 = w.sco(s, "one"), w.sco(s, "two")
    # attempt 1: (80 + 60) / 2 = 70; times PT1H2M3.5S = 3723.5 s and P1DT2H = 93600 s.
    w.launch(u1, s, sco1, 1, 1)
    w.track(u1, s, sco1, 1, "cmi.score.raw", "80", 2)
    w.track(u1, s, sco1, 1, "cmi.completion_status", "completed", 3)
    w.track(u1, s, sco1, 1, "cmi.total_time", "PT1H2M3.5S", 4)
    w.track(u1, s, sco2, 1, "cmi.score.raw", "60", 5)
    w.track(u1, s, sco2, 1, "cmi.total_time", "P1DT2H", 6)
    # attempt 2: 95 and a zero (ignored): 95 / 1 = 95; PT30M = 1800 s; a malformed time ignored.
    w.launch(u1, s, sco1, 2, 10)
    w.track(u1, s, sco1, 2, "cmi.score.raw", "95", 11)
    w.track(u1, s, sco1, 2, "cmi.total_time", "PT30M", 12)
    w.track(u1, s, sco2, 2, "cmi.score.raw", "0", 13)
    w.track(u1, s, sco2, 2, "cmi.total_time", "half an hour", 14)
    # attempt 3: opened only, no cmi.score.raw: its score (0) is summed but it is not counted.
    w.launch(u1, s, sco1, 3, 20)
    #   Average of attempts: (70 + 95 + 0) / 2 attempts reporting cmi.score.raw = 82.5,
    #   PHP round() -> 83. totaltime 3723.5 + 93600 + 1800 = 99123.5 -> 99124.

    # --- 2004, learning objects (0), last completed attempt (3) --------------------------------
    s = ids["s04lo"] = w.activity(
        course, "2004 objects", version="SCORM_13", grademethod=0, whatgrade=3
    )
    sco1, sco2 = w.sco(s, "one"), w.sco(s, "two")
    asset = w.sco(s, "leaflet", "asset")
    # u1 attempt 1: both SCOs completed (2). Attempt 2: sco1 completed, sco2 incomplete but
    #   passed: success_status is not the SCO's status, so 1. Attempt 3: sco1 incomplete and
    #   the asset "completed": the last completed attempt is 3, where the asset is the one
    #   learning object completed: score 1.
    w.track(u1, s, sco1, 1, "cmi.completion_status", "completed", 1)
    w.track(u1, s, sco2, 1, "cmi.completion_status", "completed", 2)
    w.track(u1, s, sco1, 2, "cmi.completion_status", "completed", 3)
    w.track(u1, s, sco2, 2, "cmi.completion_status", "incomplete", 4)
    w.track(u1, s, sco2, 2, "cmi.success_status", "passed", 5)
    w.track(u1, s, sco1, 3, "cmi.completion_status", "incomplete", 6)
    w.track(u1, s, asset, 3, "cmi.completion_status", "completed", 7)
    # u3, attempts 3 and 4, never completed: Moodle grades attempt 1, which does not exist: 0.
    w.track(u3, s, sco1, 3, "cmi.completion_status", "incomplete", 8)
    w.track(u3, s, sco1, 4, "cmi.completion_status", "incomplete", 9)
    w.track(u3, s, sco2, 4, "cmi.success_status", "failed", 10)

    # --- 1.2, highest (1), last completed attempt (3) -------------------------------------------
    s = ids["s12last"] = w.activity(
        course, "1.2 last", version="SCORM_1.2", grademethod=1, whatgrade=3
    )
    sco1 = w.sco(s, "one")
    # u1: attempt 1 passed 40, attempt 2 completed 80, attempt 3 incomplete 95: the last
    #   completed attempt is 2, so 80 (not the better, later 95).
    for number, status, score in (
        (1, "passed", "40"),
        (2, "completed", "80"),
        (3, "incomplete", "95"),
    ):
        w.track(u1, s, sco1, number, "cmi.core.lesson_status", status, 10 * number)
        w.track(u1, s, sco1, number, "cmi.core.score.raw", score, 10 * number + 1)
    # u2: attempts 3 (70, incomplete) and 4 (50, failed), none completed: Moodle grades
    #   attempt 1, which does not exist: 0 (not 70 from the first attempt there is).
    w.track(u2, s, sco1, 3, "cmi.core.lesson_status", "incomplete", 1)
    w.track(u2, s, sco1, 3, "cmi.core.score.raw", "70", 2)
    w.track(u2, s, sco1, 4, "cmi.core.lesson_status", "failed", 3)
    w.track(u2, s, sco1, 4, "cmi.core.score.raw", "50", 4)

    # --- 2004, highest (1), last completed attempt (3): passed counts as completed -------------
    s = ids["s04passed"] = w.activity(
        course, "2004 passed", version="SCORM_13", grademethod=1, whatgrade=3
    )
    sco1 = w.sco(s, "one")
    # u1: attempt 1 completed, 60; attempt 2 incomplete but passed, 90: the last attempt with a
    #   completed or passed status is 2: 90.
    w.track(u1, s, sco1, 1, "cmi.completion_status", "completed", 1)
    w.track(u1, s, sco1, 1, "cmi.score.raw", "60", 2)
    w.track(u1, s, sco1, 2, "cmi.completion_status", "incomplete", 3)
    w.track(u1, s, sco1, 2, "cmi.success_status", "passed", 4)
    w.track(u1, s, sco1, 2, "cmi.score.raw", "90", 5)
    # u2: only passed (completion incomplete): completed, graded on attempt 1: 70.
    w.track(u2, s, sco1, 1, "cmi.completion_status", "incomplete", 6)
    w.track(u2, s, sco1, 1, "cmi.success_status", "passed", 7)
    w.track(u2, s, sco1, 1, "cmi.score.raw", "70", 8)

    # --- 1.2, highest (1), highest attempt (0) capped by maxattempt 2 (other course) -----------
    s = ids["s12cap"] = w.activity(
        other, "1.2 capped", version="SCORM_12", grademethod=1, whatgrade=0, maxattempt=2
    )
    sco1 = w.sco(s, "one")
    # Attempts score 50, 60, 99; only attempts 1..2 are graded: 60.
    for number, score in ((1, "50"), (2, "60"), (3, "99")):
        w.track(u1, s, sco1, number, "cmi.core.score.raw", score, number)

    alpha = site.insert("company", name="Alpha", shortname="alpha", code="A", city="", country="")
    site.insert("company_users", companyid=alpha, userid=u3, departmentid=0)
    ids["alpha"] = alpha
    ids["u1"] = u1
    return Built(site, ids)


@pytest.fixture(params=["4.1", "4.5"], ids=["pre43", "43plus"])
def built(request: pytest.FixtureRequest, db_url: str) -> Iterator[Built]:
    b = build(db_url, request.param)
    yield b
    b.site.dispose()


def run(built: Built, **params: str) -> list[dict[str, Any]]:
    return report_rows(built.site.url, "scorm_summary", params=params)


def _by_key(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(row["scorm_name"], row["username"]): row for row in rows}


EXPECTED = {
    # (activity, user): (attempts, completed, totaltime, score, lastaccess offset)
    ("1.2 highest", "u1"): (2, 1, 4531, 85.46, 30),
    ("1.2 highest", "u2"): (1, 1, 0, 0.0, 41),
    ("1.2 sum", "u1"): (2, 1, 0, 75.5, 7),
    ("2004 average", "u1"): (3, 1, 99124, 83.0, 20),
    ("2004 objects", "u1"): (3, 1, 0, 1.0, 7),
    ("2004 objects", "u3"): (2, 0, 0, 0.0, 10),
    ("1.2 last", "u1"): (3, 1, 0, 80.0, 31),
    ("1.2 last", "u2"): (2, 0, 0, 0.0, 4),
    ("2004 passed", "u1"): (2, 1, 0, 90.0, 5),
    ("2004 passed", "u2"): (1, 1, 0, 70.0, 8),
    ("1.2 capped", "u1"): (3, 0, 0, 60.0, 3),
}


def test_same_summary_on_both_layouts(built: Built) -> None:
    rows = run(built)
    assert list(rows[0]) == [
        "scormid", "scorm_name", "courseid", "userid", "username", "attempts", "completed",
        "totaltime", "score", "lastaccess",
    ]  # fmt: skip
    got = {
        key: (
            row["attempts"],
            int(row["completed"]),
            row["totaltime"],
            row["score"],
            row["lastaccess"] - T0,
        )
        for key, row in _by_key(rows).items()
    }
    assert got == EXPECTED
    assert len(rows) == len(EXPECTED)  # one row per (user, activity); the deleted user is left out
    assert all(isinstance(row["score"], float) for row in rows)
    # Rows come grouped by user, then activity.
    order = [(row["userid"], row["scormid"]) for row in rows]
    assert order == sorted(order)


def test_filters(built: Built) -> None:
    ids = built.ids
    assert {row["scorm_name"] for row in run(built, courseid=str(ids["other"]))} == {"1.2 capped"}
    only = run(built, scormid=str(ids["s04lo"]))
    assert sorted(row["username"] for row in only) == ["u1", "u3"]
    assert [row["username"] for row in run(built, companyid=str(ids["alpha"]))] == ["u3"]
    assert run(built, courseid="999999") == []


def test_an_attempt_without_values_counts_on_43plus(db_url: str) -> None:
    # Moodle 4.3+ creates the scorm_attempt row when an attempt starts; until a value arrives
    # the attempt counts, with nothing completed, no time, a score of 0 and no access time.
    site = MoodleSite(db_url, release="4.5")
    try:
        w = Scorm(site, "43plus")
        course = site.course("A")
        user = site.user("u1")
        s = w.activity(course, "Empty", version="SCORM_12", grademethod=1, whatgrade=0)
        w.sco(s, "one")
        w.attempt(user, s, 1)
        rows = report_rows(site.url, "scorm_summary")
        assert [
            (r["attempts"], r["completed"], r["totaltime"], r["score"], r["lastaccess"])
            for r in rows
        ] == [(1, 0, 0, 0.0, None)]
    finally:
        site.dispose()


# Grading with an asset that carries a status and a score. Moodle's scorm_grade_user_attempt()
# takes every scorm_scoes row of the activity (sortorder, id), so the asset's values count.
# Package (SCORM 1.2), in Moodle's order: one (sco), leaflet (asset), two (sco).
# u1, attempt 1: one incomplete 40; leaflet completed 90; two passed, score 0 (ignored).
#   learning objects 2 (leaflet, two); highest 90; average (40 + 90) / 2 = 65; sum 130.
# u1, attempt 2: one completed 70; leaflet completed, no score; two incomplete 50.
#   learning objects 2 (one, leaflet); highest 70; average (70 + 50) / 2 = 60; sum 120.
# (Counting SCOs only would give 1/40/40/40 and 1/70/60/120.)
ASSET_ACTIVITIES = {
    # name: (grademethod, whatgrade, expected score of u1)
    "objects, best attempt": (0, 0, 2.0),  # max(2, 2)
    "highest, best attempt": (1, 0, 90.0),  # max(90, 70)
    "average, best attempt": (2, 0, 65.0),  # max(65, 60)
    "sum, best attempt": (3, 0, 130.0),  # max(130, 120)
    "average, average of attempts": (2, 1, 63.0),  # (65 + 60) / 2 attempts with a score = 62.5
    "sum, first attempt": (3, 2, 130.0),  # attempt 1
    "highest, last completed": (1, 3, 70.0),  # attempt 2 has completed values: 70
}


@pytest.mark.parametrize("release", ["4.1", "4.5"], ids=["pre43", "43plus"])
def test_assets_are_graded_as_moodle_grades_them(db_url: str, release: str) -> None:
    site = MoodleSite(db_url, release=release)
    try:
        w = Scorm(site, "pre43" if release == "4.1" else "43plus")
        course = site.course("A")
        u1, u2 = site.user("u1"), site.user("u2")
        for name, (grademethod, whatgrade, _score) in ASSET_ACTIVITIES.items():
            s = w.activity(
                course, name, version="SCORM_12", grademethod=grademethod, whatgrade=whatgrade
            )
            # Inserted out of order: Moodle's order comes from sortorder.
            two = w.sco(s, "two", sortorder=3)
            leaflet = w.sco(s, "leaflet", "asset", sortorder=2)
            one = w.sco(s, "one", sortorder=1)
            for sco, attempt, status, score in (
                (one, 1, "incomplete", "40"),
                (leaflet, 1, "completed", "90"),
                (two, 1, "passed", "0"),
                (one, 2, "completed", "70"),
                (leaflet, 2, "completed", None),
                (two, 2, "incomplete", "50"),
            ):
                w.launch(u1, s, sco, attempt, attempt * 10)
                w.track(u1, s, sco, attempt, "cmi.core.lesson_status", status, attempt * 10 + 1)
                if score is not None:
                    w.track(u1, s, sco, attempt, "cmi.core.score.raw", score, attempt * 10 + 2)
            if name == "highest, last completed":
                # u2: attempt 1 one completed 80; attempt 2 one incomplete 95 and the leaflet
                # opened ("completed"): the last completed attempt is 2, so 95 (SCOs only: 80).
                w.track(u2, s, one, 1, "cmi.core.lesson_status", "completed", 1)
                w.track(u2, s, one, 1, "cmi.core.score.raw", "80", 2)
                w.track(u2, s, one, 2, "cmi.core.lesson_status", "incomplete", 3)
                w.track(u2, s, one, 2, "cmi.core.score.raw", "95", 4)
                w.track(u2, s, leaflet, 2, "cmi.core.lesson_status", "completed", 5)
        rows = report_rows(site.url, "scorm_summary")
        got = {
            (r["scorm_name"], r["username"]): (r["attempts"], int(r["completed"]), r["score"])
            for r in rows
        }
        expected = {(name, "u1"): (2, 1, want) for name, (_g, _w, want) in ASSET_ACTIVITIES.items()}
        expected[("highest, last completed", "u2")] = (2, 1, 95.0)
        assert got == expected
    finally:
        site.dispose()


# --- the readers, without a database ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        # SCORM 1.2 CMITimespan HHHH:MM:SS.SS
        ("00:00:00", 0.0),
        ("00:10:00", 600.0),
        ("0000:05:30.50", 330.5),
        ("01:02:03.5", 3723.5),
        ("9999:59:59.99", 9999 * 3600 + 59 * 60 + 59.99),
        (" 12:00:00 ", 43200.0),
        # SCORM 2004 ISO 8601 durations
        ("PT1H2M3.5S", 3723.5),
        ("P1DT2H", 93600.0),
        ("PT30M", 1800.0),
        ("PT0S", 0.0),
        ("PT0.25S", 0.25),
        ("PT1,5S", 1.5),
        ("P2W", 14 * 86400.0),
        ("P1Y", 365.25 * 86400),
        ("P1M", 365.25 * 86400 / 12),
        ("P1MT1M", 365.25 * 86400 / 12 + 60),
        ("pt1h", 3600.0),
        ("PT100M", 6000.0),
    ],
)
def test_parse_scorm_duration(text: str, seconds: float) -> None:
    assert parse_scorm_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    [None, "", "P", "PT", "P1DT", "-PT1H", "1H", "PT1H2", "half an hour", "12:00", "1:2:3:4",
     "PT1S2M", "P1.5.2D", "00:-1:00"],
)  # fmt: skip
def test_malformed_durations_are_none(text: str | None) -> None:
    assert parse_scorm_duration(text) is None


def test_scores_are_read_as_moodle_reads_them() -> None:
    assert scorm_raw_score("85.456") == 85.46
    assert scorm_raw_score(" 70") == 70.0
    assert scorm_raw_score("12abc") == 12.0
    assert scorm_raw_score("abc") == 0.0
    assert scorm_raw_score("") == 0.0
    assert scorm_raw_score("1e2") == 100.0
    assert php_float(None) == 0.0
    assert php_float("-3.5") == -3.5
    assert php_round(82.5) == 83.0
    assert php_round(2.5) == 3.0
    assert php_round(-2.5) == -3.0
    assert php_round(82.4) == 82.0
    assert is_scorm_2004(" SCORM_13 ") and is_scorm_2004("scorm_1.3")
    assert not is_scorm_2004("SCORM_12") and not is_scorm_2004("AICC") and not is_scorm_2004(None)


def test_attempt_score_by_grading_method() -> None:
    scos = {
        1: {"cmi.core.lesson_status": "completed", "cmi.core.score.raw": "80"},
        2: {"cmi.core.lesson_status": "passed", "cmi.core.score.raw": "40"},
        3: {"cmi.core.lesson_status": "failed", "cmi.core.score.raw": "0"},
        4: {"x.start.time": "1"},
    }
    assert attempt_score(scos, 0) == 2  # learning objects: completed + passed
    assert attempt_score(scos, 1) == 80  # highest
    assert attempt_score(scos, 2) == 60  # average of 80 and 40; the zero is left out
    assert attempt_score(scos, 3) == 120  # sum
    assert attempt_score(scos, 7) == 80  # unknown: Moodle's default, highest
    assert attempt_score({}, 2) == 0
    # With a 1.2 and a 2004 status on one SCO, Moodle keeps the later element name.
    assert attempt_score({1: {"cmi.completion_status": "incomplete",
                              "cmi.core.lesson_status": "passed"}}, 0) == 1  # fmt: skip


def test_company_filter_needs_iomad(sqlite_url: str) -> None:
    site = MoodleSite(sqlite_url, iomad=False)
    try:
        with pytest.raises(InputError, match="companyid needs an IOMAD site"):
            report_rows(site.url, "scorm_summary", params={"companyid": "1"})
    finally:
        site.dispose()
