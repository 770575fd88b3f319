"""The demo site: same data on every engine, Moodle's rules kept, real sites left alone.

One small demo is built per engine for the whole module; the checks read it back with SQL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from manireports.demo import DemoSummary, build_demo
from manireports.errors import InputError
from manireports.moodle.schema import create_moodle_tables
from tests.conftest import ENGINES, fresh_database

ANCHOR = dt.date(2025, 6, 1)
NOW = int(dt.datetime(2025, 6, 1, tzinfo=dt.UTC).timestamp())
HISTORY_START = NOW - 180 * 86_400
# Tables whose full contents must agree across engines, with the columns compared.
FINGERPRINTS = {
    "user": "id, username, firstname, lastname, email, auth, deleted, suspended, confirmed, "
    "firstaccess, lastaccess, lastlogin, currentlogin, timecreated",
    "user_enrolments": "id, enrolid, userid, status, timestart, timeend",
    "course_completions": "id, userid, course, timeenrolled, timestarted, timecompleted",
    "quiz_attempts": "id, quiz, userid, attempt, state, preview, timestart, timefinish, sumgrades",
    "grade_grades": "id, itemid, userid, rawgrade, finalgrade",
    "scorm_scoes_value": "id, scoid, attemptid, elementid, value",
    "company_users": "id, companyid, userid, departmentid, managertype, educator, suspended",
}


@dataclass
class Demo:
    kind: str
    url: str
    summary: DemoSummary
    engine: sa.Engine

    def rows(self, sql: str, **params: object) -> list[tuple[Any, ...]]:
        with self.engine.connect() as conn:
            return [
                tuple(row)
                for row in conn.execute(sa.text(sql.replace("{", "mdl_").replace("}", "")), params)
            ]

    def value(self, sql: str, **params: object) -> Any:
        return self.rows(sql, **params)[0][0]


def _build(kind: str, folder: Path) -> Iterator[Demo]:
    databases = fresh_database(kind, folder)
    url = next(databases)
    summary = build_demo(url, anchor=ANCHOR)
    engine = sa.create_engine(url)
    try:
        yield Demo(kind, url, summary, engine)
    finally:
        engine.dispose()
        next(databases, None)  # runs the helper's clean-up (drops the database)


@pytest.fixture(scope="module", params=ENGINES)
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    yield from _build(request.param, tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The same demo on SQLite, which every engine's copy must equal."""
    yield from _build("sqlite", tmp_path_factory.mktemp("reference"))


def _normal(value: object) -> object:
    """Decimals, floats and SQLite's integer-valued NUMERICs compare as the same number."""
    if isinstance(value, float | Decimal):
        number = round(float(value), 4)
        return int(number) if number.is_integer() else number
    return value


def fingerprint(demo: Demo, table: str, columns: str) -> str:
    digest = hashlib.sha256()
    for row in demo.rows(f"SELECT {columns} FROM {{{table}}} ORDER BY id"):
        digest.update(repr(tuple(_normal(v) for v in row)).encode())
    return digest.hexdigest()


def test_summary_counts_are_in_the_database(demo: Demo) -> None:
    rows = demo.summary.rows
    for table, count in rows.items():
        assert demo.value(f"SELECT COUNT(*) FROM {{{table}}}") == count, table
    assert 250 <= rows["user"] <= 400
    assert rows["course"] == 16
    assert 20_000 <= rows["logstore_standard_log"] <= 100_000
    assert demo.summary.size == "small" and demo.summary.seed == 1


def test_every_engine_holds_the_same_data(demo: Demo, reference: Demo) -> None:
    assert demo.summary.rows == reference.summary.rows
    for table, columns in FINGERPRINTS.items():
        assert fingerprint(demo, table, columns) == fingerprint(reference, table, columns), table
    log = (
        "SELECT COUNT(*), SUM(timecreated), SUM(userid), COUNT(DISTINCT eventname) "
        "FROM {logstore_standard_log}"
    )
    assert demo.rows(log) == reference.rows(log)
    sample = "SELECT * FROM {logstore_standard_log} WHERE MOD(id, 97) = 0 ORDER BY id"
    assert [tuple(map(_normal, r)) for r in demo.rows(sample)] == [
        tuple(map(_normal, r)) for r in reference.rows(sample)
    ]


ORPHANS = {
    "enrolment without user": "SELECT COUNT(*) FROM {user_enrolments} ue "
    "LEFT JOIN {user} u ON u.id = ue.userid WHERE u.id IS NULL OR u.deleted = 1",
    "enrolment without instance": "SELECT COUNT(*) FROM {user_enrolments} ue "
    "LEFT JOIN {enrol} e ON e.id = ue.enrolid WHERE e.id IS NULL",
    "instance without course": "SELECT COUNT(*) FROM {enrol} e "
    "LEFT JOIN {course} c ON c.id = e.courseid WHERE c.id IS NULL OR c.id = 1",
    "role assignment without context": "SELECT COUNT(*) FROM {role_assignments} ra "
    "LEFT JOIN {context} x ON x.id = ra.contextid WHERE x.id IS NULL",
    "role assignment without role": "SELECT COUNT(*) FROM {role_assignments} ra "
    "LEFT JOIN {role} r ON r.id = ra.roleid WHERE r.id IS NULL",
    "module event without module": "SELECT COUNT(*) FROM {logstore_standard_log} l "
    "LEFT JOIN {course_modules} cm ON cm.id = l.contextinstanceid "
    "WHERE l.contextlevel = 70 AND cm.id IS NULL",
    "module event in the wrong course": "SELECT COUNT(*) FROM {logstore_standard_log} l "
    "JOIN {course_modules} cm ON cm.id = l.contextinstanceid "
    "WHERE l.contextlevel = 70 AND cm.course <> l.courseid",
    "course event without course": "SELECT COUNT(*) FROM {logstore_standard_log} l "
    "LEFT JOIN {course} c ON c.id = l.contextinstanceid "
    "WHERE l.contextlevel = 50 AND (c.id IS NULL OR c.id <> l.courseid)",
    "event in a missing context of a live user": "SELECT COUNT(*) FROM {logstore_standard_log} l "
    "LEFT JOIN {context} x ON x.id = l.contextid LEFT JOIN {user} u ON u.id = l.contextinstanceid "
    "WHERE x.id IS NULL AND NOT (l.contextlevel = 30 AND u.deleted = 1)",
    "completion of a missing module": "SELECT COUNT(*) FROM {course_modules_completion} c "
    "LEFT JOIN {course_modules} cm ON cm.id = c.coursemoduleid WHERE cm.id IS NULL",
    "group member not enrolled": "SELECT COUNT(*) FROM {groups_members} gm "
    "JOIN {groups} g ON g.id = gm.groupid WHERE NOT EXISTS (SELECT 1 FROM {user_enrolments} ue "
    "JOIN {enrol} e ON e.id = ue.enrolid WHERE ue.userid = gm.userid AND e.courseid = g.courseid)",
    "attempt of a missing quiz": "SELECT COUNT(*) FROM {quiz_attempts} a "
    "LEFT JOIN {quiz} q ON q.id = a.quiz WHERE q.id IS NULL",
    "SCORM value of a missing attempt": "SELECT COUNT(*) FROM {scorm_scoes_value} v "
    "LEFT JOIN {scorm_attempt} a ON a.id = v.attemptid LEFT JOIN {scorm_scoes} s ON s.id = v.scoid "
    "WHERE a.id IS NULL OR s.id IS NULL OR s.scorm <> a.scormid",
    "company member in a foreign department": "SELECT COUNT(*) FROM {company_users} cu "
    "LEFT JOIN {department} d ON d.id = cu.departmentid WHERE d.company IS NULL "
    "OR d.company <> cu.companyid",
    "grade of a missing item": "SELECT COUNT(*) FROM {grade_grades} g "
    "LEFT JOIN {grade_items} i ON i.id = g.itemid WHERE i.id IS NULL",
}


@pytest.mark.parametrize("check", sorted(ORPHANS))
def test_referential_integrity(demo: Demo, check: str) -> None:
    assert demo.value(ORPHANS[check]) == 0


def test_completions_belong_to_enrolled_or_departed_learners(demo: Demo) -> None:
    """A completion row outlives its enrolment only when the user was unenrolled or deleted."""
    unexplained = demo.value(
        "SELECT COUNT(*) FROM {course_completions} cc JOIN {user} u ON u.id = cc.userid "
        "WHERE NOT EXISTS (SELECT 1 FROM {user_enrolments} ue JOIN {enrol} e ON e.id = ue.enrolid"
        " WHERE ue.userid = cc.userid AND e.courseid = cc.course) AND u.deleted = 0 "
        "AND NOT EXISTS (SELECT 1 FROM {logstore_standard_log} l WHERE l.relateduserid = cc.userid"
        " AND l.courseid = cc.course AND l.eventname = :unenrolled)",
        unenrolled="\\core\\event\\user_enrolment_deleted",
    )
    assert unexplained == 0
    departed = demo.value(
        "SELECT COUNT(*) FROM {course_completions} cc WHERE NOT EXISTS (SELECT 1 FROM "
        "{user_enrolments} ue JOIN {enrol} e ON e.id = ue.enrolid WHERE ue.userid = cc.userid "
        "AND e.courseid = cc.course)"
    )
    assert departed > 0
    completed_without_criteria = demo.value(
        "SELECT COUNT(*) FROM {course_completions} cc WHERE cc.timecompleted IS NOT NULL AND "
        "NOT EXISTS (SELECT 1 FROM {course_completion_criteria} c WHERE c.course = cc.course)"
    )
    assert completed_without_criteria == 0


def test_all_criteria_met_for_courses_completed_under_all(demo: Demo) -> None:
    missing = demo.value(
        "SELECT COUNT(*) FROM {course_completions} cc "
        "JOIN {course_completion_aggr_methd} m ON m.course = cc.course AND m.criteriatype = 4 "
        "JOIN {course_completion_criteria} c ON c.course = cc.course "
        "WHERE cc.timecompleted IS NOT NULL AND m.method = 1 AND NOT EXISTS (SELECT 1 FROM "
        "{course_completion_crit_compl} x WHERE x.criteriaid = c.id AND x.userid = cc.userid)"
    )
    assert missing == 0


def test_noise_is_in_the_log(demo: Demo) -> None:
    count = "SELECT COUNT(*) FROM {logstore_standard_log} WHERE "
    assert demo.value(count + "userid = 1") > 0  # guest
    assert demo.value(count + "userid = 0") > 0  # not logged in
    assert demo.value(count + "anonymous = 1") > 0
    assert demo.value(count + "realuserid IS NOT NULL") > 0  # logged in as
    for origin in ("web", "ws", "cli", "restore"):
        assert demo.value(count + "origin = :origin", origin=origin) > 0, origin
    assert demo.value(count + "courseid = 0") > 0
    assert demo.value(count + "courseid = 1") > 0
    assert demo.value(count + "eventname = :name", name="\\core\\event\\user_loggedin") > 0
    assert demo.value("SELECT MIN(timecreated) FROM {logstore_standard_log}") >= HISTORY_START
    assert demo.value("SELECT MAX(timecreated) FROM {logstore_standard_log}") < NOW
    levels = {row[0] for row in demo.rows("SELECT DISTINCT edulevel FROM {logstore_standard_log}")}
    assert levels == {0, 1, 2}


def test_people_act_only_while_their_account_exists(demo: Demo) -> None:
    early = demo.value(
        "SELECT COUNT(*) FROM {logstore_standard_log} l JOIN {user} u ON u.id = l.userid "
        "WHERE l.userid > 1 AND l.timecreated < u.timecreated"
    )
    assert early == 0
    late = demo.value(
        "SELECT COUNT(*) FROM {logstore_standard_log} l JOIN {user} u ON u.id = l.userid "
        "WHERE u.deleted = 1 AND l.timecreated > u.timemodified"
    )
    assert late == 0
    assert (
        demo.value(
            "SELECT COUNT(*) FROM {logstore_standard_log} l JOIN {user} u ON u.id = l.userid "
            "WHERE u.confirmed = 0"
        )
        == 0
    )


def test_sessions_are_bursts(demo: Demo) -> None:
    """Most gaps between one learner's events are minutes; some are hours or days."""
    times = [
        row[0]
        for row in demo.rows(
            "SELECT timecreated FROM {logstore_standard_log} WHERE userid = (SELECT userid "
            "FROM {logstore_standard_log} WHERE userid > 3 GROUP BY userid "
            "ORDER BY COUNT(*) DESC, userid LIMIT 1) ORDER BY timecreated, id"
        )
    ]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) > 50
    short = sum(1 for gap in gaps if gap <= 600)
    long = sum(1 for gap in gaps if gap >= 3600)
    assert short > len(gaps) / 2 and long >= 5


def test_access_times_agree_with_the_log(demo: Demo) -> None:
    activity = (
        "SELECT userid, MAX(timecreated), MIN(timecreated) FROM {logstore_standard_log} "
        "WHERE origin IN ('web', 'ws') AND realuserid IS NULL AND userid > 1 "
        "GROUP BY userid"
    )
    users = {
        row[0]: row[1:]
        for row in demo.rows(
            "SELECT id, lastaccess, firstaccess, lastlogin, currentlogin FROM {user}"
        )
    }
    for user, last, first in demo.rows(activity):
        lastaccess, firstaccess, lastlogin, currentlogin = users[user]
        assert lastaccess == last, user
        assert 0 < firstaccess <= first
        assert lastlogin <= currentlogin <= lastaccess
    mismatched = demo.value(
        "SELECT COUNT(*) FROM {user_lastaccess} a JOIN (SELECT userid, courseid, "
        "MAX(timecreated) AS seen FROM {logstore_standard_log} WHERE origin IN ('web', 'ws') AND "
        "realuserid IS NULL AND courseid > 1 GROUP BY userid, courseid) l ON "
        "l.userid = a.userid AND l.courseid = a.courseid WHERE a.timeaccess <> l.seen"
    )
    assert mismatched == 0


def _combined(method: int, grades: list[float]) -> float:
    return {1: max(grades), 2: sum(grades) / len(grades), 3: grades[0], 4: grades[-1]}[method]


def test_quiz_data_follows_moodle(demo: Demo) -> None:
    assert (
        demo.value(
            "SELECT COUNT(*) FROM {quiz} q WHERE ABS(q.sumgrades - (SELECT SUM(s.maxmark) "
            "FROM {quiz_slots} s WHERE s.quizid = q.id)) > 0.00001"
        )
        == 0
    )
    assert (
        demo.value(
            "SELECT COUNT(*) FROM {quiz_attempts} WHERE (state = 'finished') <> "
            "(sumgrades IS NOT NULL)"
        )
        == 0
    )
    states = {row[0] for row in demo.rows("SELECT DISTINCT state FROM {quiz_attempts}")}
    assert {"inprogress", "overdue", "finished", "abandoned"} <= states
    assert demo.value("SELECT COUNT(*) FROM {quiz_attempts} WHERE preview = 1") > 0
    quizzes = {
        row[0]: row[1:] for row in demo.rows("SELECT id, sumgrades, grade, grademethod FROM {quiz}")
    }
    attempts: dict[tuple[int, int], list[float]] = {}
    for quiz, user, sumgrades in demo.rows(
        "SELECT quiz, userid, sumgrades FROM {quiz_attempts} WHERE state = 'finished' "
        "AND preview = 0 ORDER BY quiz, userid, attempt"
    ):
        attempts.setdefault((quiz, user), []).append(float(sumgrades))
    grades = {
        (q, u): float(g) for q, u, g in demo.rows("SELECT quiz, userid, grade FROM {quiz_grades}")
    }
    assert grades.keys() == attempts.keys()
    for (quiz, user), raw in attempts.items():
        total, scale, method = (float(v) for v in quizzes[quiz])
        expected = _combined(int(method), raw) / total * scale
        assert grades[(quiz, user)] == pytest.approx(expected, abs=1e-4)
    methods = {row[0] for row in demo.rows("SELECT DISTINCT grademethod FROM {quiz}")}
    assert methods == {1, 2, 3, 4}


def test_scorm_tracks_look_like_players_write_them(demo: Demo) -> None:
    values = dict(
        demo.rows(
            "SELECT e.element, MIN(v.value) FROM {scorm_scoes_value} v "
            "JOIN {scorm_element} e ON e.id = v.elementid GROUP BY e.element"
        )
    )
    assert str(values["cmi.total_time"]).startswith("PT")
    assert str(values["cmi.core.total_time"])[4] == ":"
    assert {
        "cmi.core.lesson_status",
        "cmi.completion_status",
        "cmi.success_status",
        "cmi.core.score.raw",
        "cmi.score.raw",
        "x.start.time",
    } <= values.keys()
    assert demo.value("SELECT MIN(attempt) FROM {scorm_attempt}") == 1
    assert (
        demo.value(
            "SELECT COUNT(*) FROM (SELECT userid, scormid FROM {scorm_attempt} GROUP BY userid, "
            "scormid HAVING MIN(attempt) > 1) x"
        )
        >= 1
    )
    versions = {row[0] for row in demo.rows("SELECT DISTINCT version FROM {scorm}")}
    assert versions == {"SCORM_1.2", "SCORM_13"}
    assert {row[0] for row in demo.rows("SELECT DISTINCT scormtype FROM {scorm_scoes}")} >= {
        "sco",
        "asset",
    }


def test_site_follows_moodle_conventions(demo: Demo) -> None:
    config = dict(demo.rows("SELECT name, value FROM {config}"))
    assert config["version"] == "2024100700" and config["release"].startswith("4.5")
    assert config["siteadmins"] == "2,3" and config["siteguest"] == "1"
    marker = json.loads(str(config["manireports_demo"]))
    assert marker["seed"] == 1 and marker["anchor"] == "2025-06-01"
    assert demo.rows("SELECT username FROM {user} WHERE id IN (1, 2) ORDER BY id") == [
        ("guest",),
        ("admin",),
    ]
    assert demo.rows("SELECT format, category FROM {course} WHERE id = 1") == [("site", 0)]
    shortnames = {row[0] for row in demo.rows("SELECT shortname FROM {role}")}
    assert {
        "manager",
        "coursecreator",
        "editingteacher",
        "teacher",
        "student",
        "guest",
        "user",
        "frontpage",
        "companymanager",
        "companydepartmentmanager",
        "companycourseeditor",
        "companycoursenoneditor",
        "companyreporter",
    } <= shortnames
    assert (
        demo.value(
            "SELECT COUNT(*) FROM {role_capabilities} rc JOIN {role} r ON r.id = rc.roleid "
            "WHERE r.shortname = 'student' AND rc.contextid = 1 AND rc.permission = 1 "
            "AND rc.capability = 'moodle/course:isincompletionreports'"
        )
        == 1
    )
    contexts = {
        row[0]: row[1:] for row in demo.rows("SELECT id, path, depth, contextlevel FROM {context}")
    }
    assert contexts[1] == ("/1", 1, 10)
    for context_id, (path, depth, _) in contexts.items():
        parts = str(path).split("/")[1:]
        assert parts[-1] == str(context_id) and len(parts) == depth
        assert all(int(part) in contexts for part in parts)
    deleted = demo.rows("SELECT username, email FROM {user} WHERE deleted = 1")
    assert deleted
    for username, email in deleted:
        assert len(str(email)) == 32 and "@" in str(username)
        assert str(username).rsplit(".", 1)[1].isdigit()
    names = {row[0] for row in demo.rows("SELECT firstname FROM {user}")}
    names |= {row[0] for row in demo.rows("SELECT lastname FROM {user}")}
    scripts = {
        "latin with diacritics": (0x00C0, 0x024F),
        "greek": (0x0370, 0x03FF),
        "cyrillic": (0x0400, 0x04FF),
        "arabic": (0x0600, 0x06FF),
        "devanagari": (0x0900, 0x097F),
        "cjk": (0x4E00, 0x9FFF),
    }
    for script, (low, high) in scripts.items():
        assert any(low <= ord(char) <= high for name in names for char in name), script
    assert any("'" in name for name in names)
    assert demo.value("SELECT COUNT(*) FROM {modules} WHERE visible = 0") >= 1
    assert (
        demo.value(
            "SELECT COUNT(*) FROM {course_modules_completion} c JOIN {course_modules} cm ON "
            "cm.id = c.coursemoduleid JOIN {modules} m ON m.id = cm.module WHERE m.visible = 0"
        )
        > 0
    )
    states = {
        row[0]
        for row in demo.rows("SELECT DISTINCT completionstate FROM {course_modules_completion}")
    }
    assert states == {0, 1, 2, 3, 4}


def test_iomad_tenants_are_shaped_like_iomad(demo: Demo) -> None:
    departments = {
        row[0]: row[1:] for row in demo.rows("SELECT id, company, parent FROM {department}")
    }
    for (company,) in demo.rows("SELECT id FROM {company}"):
        top = [d for d, (c, parent) in departments.items() if c == company and parent == 0]
        assert len(top) == 1, company

        def depth(department: int) -> int:
            parent = departments[department][1]
            return 1 if parent == 0 else 1 + depth(int(str(parent)))

        deepest = max(depth(d) for d, (c, _) in departments.items() if c == company)
        assert deepest >= 3, company
    assert demo.value("SELECT COUNT(*) FROM {company} WHERE parentid > 0") >= 1
    types = {row[0] for row in demo.rows("SELECT DISTINCT managertype FROM {company_users}")}
    assert {0, 1, 2} <= types
    for condition in ("educator = 1", "suspended = 1"):
        assert demo.value(f"SELECT COUNT(*) FROM {{company_users}} WHERE {condition}") > 0
    assert (
        demo.value(
            "SELECT COUNT(*) FROM (SELECT userid FROM {company_users} GROUP BY userid "
            "HAVING COUNT(DISTINCT companyid) > 1) x"
        )
        > 0
    )
    assert (
        demo.value(
            "SELECT COUNT(*) FROM {company_users} cu JOIN {role_assignments} ra ON ra.userid = "
            "cu.userid JOIN {role} r ON r.id = ra.roleid JOIN {context} x ON x.id = ra.contextid "
            "WHERE cu.managertype = 1 AND r.shortname = 'student' AND x.contextlevel = 50"
        )
        > 0
    )
    assert (
        demo.value(
            "SELECT COUNT(*) FROM {company_course} cc "
            "JOIN {department} d ON d.id = cc.departmentid WHERE d.parent > 0"
        )
        > 0
    )
    assert demo.value("SELECT COUNT(*) FROM {iomad_courses} WHERE shared > 0") >= 2
    assert demo.value("SELECT COUNT(*) FROM {company_shared_courses}") > 0
    assert demo.value("SELECT COUNT(*) FROM {local_iomad_track} WHERE coursecleared = 1") > 0


def test_enrolment_edge_cases_are_present(demo: Demo) -> None:
    count = "SELECT COUNT(*) FROM {user_enrolments} ue JOIN {enrol} e ON e.id = ue.enrolid WHERE "
    assert demo.value(count + "ue.status = 1") > 0
    assert demo.value(count + "e.status = 1") > 0
    assert demo.value(count + "ue.timestart > :now", now=NOW) > 0
    assert demo.value(count + "ue.timeend > 0 AND ue.timeend < :now", now=NOW) > 0
    methods = {row[0] for row in demo.rows("SELECT DISTINCT enrol FROM {enrol}")}
    assert {"manual", "self", "cohort", "guest", "license"} <= methods
    assert (
        demo.value(
            "SELECT COUNT(*) FROM (SELECT ue.userid, e.courseid FROM {user_enrolments} ue JOIN "
            "{enrol} e ON e.id = ue.enrolid GROUP BY ue.userid, e.courseid HAVING COUNT(*) > 1) x"
        )
        > 0
    )
    assert (
        demo.value(
            count + "NOT EXISTS (SELECT 1 FROM {role_assignments} ra JOIN {context} x ON "
            "x.id = ra.contextid WHERE ra.userid = ue.userid AND x.contextlevel = 50 AND "
            "x.instanceid = e.courseid)"
        )
        > 0
    )
    assert (
        demo.value(
            "SELECT COUNT(*) FROM {role_assignments} ra JOIN {context} x ON x.id = ra.contextid "
            "WHERE x.contextlevel = 40"
        )
        > 0
    )
    assert (
        demo.value(
            "SELECT COUNT(DISTINCT a.userid) FROM {role_assignments} a JOIN {role} ra ON "
            "ra.id = a.roleid JOIN {role_assignments} b ON b.userid = a.userid JOIN {role} rb ON "
            "rb.id = b.roleid WHERE ra.shortname = 'editingteacher' AND rb.shortname = 'student'"
        )
        > 0
    )


def _dump(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return hashlib.sha256("\n".join(conn.iterdump()).encode()).hexdigest()


def test_same_seed_same_data_other_seed_other_data(tmp_path: Path, reference: Demo) -> None:
    again, other = tmp_path / "again.sqlite", tmp_path / "other.sqlite"
    build_demo(f"sqlite:///{again}", seed=1, anchor=ANCHOR)
    build_demo(f"sqlite:///{other}", seed=2, anchor=ANCHOR)
    first = _dump(Path(str(reference.engine.url.database)))
    assert _dump(again) == first
    assert _dump(other) != first


def test_a_real_moodle_is_never_overwritten(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'moodle.sqlite'}"
    engine = sa.create_engine(url)
    create_moodle_tables(engine, "mdl_", ["config", "user"])
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO mdl_config (name, value) VALUES ('version', '2024100700')")
        )
    with pytest.raises(InputError, match="refusing to overwrite"):
        build_demo(url, anchor=ANCHOR)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM mdl_config")).scalar() == 1
    engine.dispose()


def test_an_existing_demo_is_rebuilt(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'demo.sqlite'}"
    first = build_demo(url, anchor=ANCHOR, release="4.1", iomad=False, prefix="m_")
    second = build_demo(url, anchor=ANCHOR, release="4.1", iomad=False, prefix="m_")
    assert first.rows == second.rows
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        names = set(sa.inspect(conn).get_table_names())
        assert "m_scorm_scoes_track" in names and "m_scorm_attempt" not in names
        assert not any("company" in name for name in names)
        assert (
            conn.execute(sa.text("SELECT value FROM m_config WHERE name = 'version'")).scalar()
            == "2022112800"
        )
        tracks = conn.execute(sa.text("SELECT COUNT(*) FROM m_scorm_scoes_track")).scalar()
        assert tracks == first.rows["scorm_scoes_track"] > 0
    engine.dispose()


@pytest.mark.parametrize("release", ["5.0", "5.1"])
def test_newer_releases_have_their_own_shapes(tmp_path: Path, release: str) -> None:
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    summary = build_demo(url, anchor=ANCHOR, release=release)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        states = set(
            conn.execute(sa.text("SELECT DISTINCT state FROM mdl_quiz_attempts")).scalars()
        )
        assert {"notstarted", "submitted"} <= states
        if release == "5.1":
            assert summary.rows["local_iomad_companies"] > 0
            assert (
                conn.execute(
                    sa.text(
                        "SELECT COUNT(*) FROM local_iomad_departments".replace("local", "mdl_local")
                        + " WHERE parentid = 0"
                    )
                ).scalar()
                == summary.rows["local_iomad_companies"]
            )
            assert "company" not in summary.rows
    engine.dispose()


def test_unknown_size_or_release_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="size"):
        build_demo(f"sqlite:///{tmp_path / 'x.sqlite'}", size="huge")
    with pytest.raises(InputError, match="release"):
        build_demo(f"sqlite:///{tmp_path / 'x.sqlite'}", release="3.9")
