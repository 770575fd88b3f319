"""quiz_attempts against a hand-made site on every engine: Moodle's quiz rules, worked out by hand.

Each quiz below exercises one rule of sql/quiz_attempts.sql (Moodle's quiz grading and its
overview report). The expected values come from the arithmetic in the comments, not from running
the query.
Grade = raw (combined by the grading method over finished, non-preview attempts)
        * quiz.grade / quiz.sumgrades, rounded to 5 decimals.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from manireports.errors import InputError
from tests.moodle_site import MoodleSite
from tests.reporting import report_rows

NOW = 1_800_000_000
AS_OF = datetime.fromtimestamp(NOW, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _quiz(
    site: MoodleSite, course: int, name: str, *, grademethod: int, sumgrades: float, grade: float
) -> int:
    return site.insert(
        "quiz",
        course=course,
        name=name,
        intro="",
        grademethod=grademethod,
        sumgrades=sumgrades,
        grade=grade,
        preferredbehaviour="deferredfeedback",
        password="",
        subnet="",
        browsersecurity="-",
    )


_UNIQUE = iter(range(1, 1_000_000))


def _attempt(
    site: MoodleSite,
    quiz: int,
    user: int,
    attempt: int,
    state: str,
    *,
    sumgrades: float | None = None,
    timestart: int = NOW - 10_000,
    timefinish: int = 0,
    preview: int = 0,
) -> int:
    return site.insert(
        "quiz_attempts",
        quiz=quiz,
        userid=user,
        attempt=attempt,
        uniqueid=next(_UNIQUE),
        layout="1,0",
        state=state,
        sumgrades=sumgrades,
        timestart=timestart,
        timefinish=timefinish,
        timemodified=timefinish or timestart,
        preview=preview,
    )


@pytest.fixture
def site(db_url: str) -> Iterator[MoodleSite]:
    s = MoodleSite(db_url)
    a = s.course("A")
    b = s.course("B")
    alice = s.user("alice")
    bob = s.user("bob")
    carol = s.user("carol")
    dave = s.user("dave")
    gone = s.user("gone", deleted=1)
    s.enrol(alice, a, timestart=NOW - 100_000)
    s.enrol(bob, a, timeend=NOW - 1)  # enrolment over: still listed, enrolled = 0
    s.enrol(alice, b)

    # Highest grade (1), out of 10 raw marks rescaled to 100.
    highest = _quiz(s, a, "Highest", grademethod=1, sumgrades=10, grade=100)
    # alice: finished 7.5 and 6.0, then one in progress; a preview (attempt 4, 10/10) is ignored.
    #   attempts 3; best max(7.5, 6.0) = 7.5 -> 7.5 * 100 / 10 = 75.0; last = attempt 3.
    _attempt(s, highest, alice, 1, "finished", sumgrades=7.5, timefinish=NOW - 9_000)
    _attempt(s, highest, alice, 2, "finished", sumgrades=6.0, timefinish=NOW - 8_000)
    _attempt(s, highest, alice, 3, "inprogress", timestart=NOW - 500)
    _attempt(s, highest, alice, 4, "finished", sumgrades=10, timefinish=NOW - 10, preview=1)
    # bob: one attempt in each state; only attempt 2 is finished (5 of 10 -> 50.0). The last is
    #   a 5.0 'submitted' attempt (timefinish set, sumgrades not yet): 6 attempts, time taken
    #   (NOW - 100) - (NOW - 700) = 600 s.
    _attempt(s, highest, bob, 1, "abandoned")
    _attempt(
        s, highest, bob, 2, "finished", sumgrades=5, timestart=NOW - 3_000, timefinish=NOW - 2_400
    )
    _attempt(s, highest, bob, 3, "overdue")
    _attempt(s, highest, bob, 4, "inprogress")
    _attempt(s, highest, bob, 5, "notstarted", timestart=0)
    _attempt(s, highest, bob, 6, "submitted", timestart=NOW - 700, timefinish=NOW - 100)
    # carol has only a preview: not listed. dave has one attempt in progress: no grade.
    _attempt(s, highest, carol, 1, "finished", sumgrades=9, timefinish=NOW - 50, preview=1)
    _attempt(s, highest, dave, 1, "inprogress")
    # A deleted user is never listed.
    _attempt(s, highest, gone, 1, "finished", sumgrades=10, timefinish=NOW - 50)

    # Average (2), out of 8 rescaled to 10: finished 6 and 7, and a finished attempt still
    # waiting for manual grading (sumgrades NULL), left out of the average:
    #   (6 + 7) / 2 = 6.5 -> 6.5 * 10 / 8 = 8.125. Last attempt 3 took 900 s.
    average = _quiz(s, a, "Average", grademethod=2, sumgrades=8, grade=10)
    _attempt(s, average, alice, 1, "finished", sumgrades=6, timefinish=NOW - 9_000)
    _attempt(s, average, alice, 2, "finished", sumgrades=7, timefinish=NOW - 8_000)
    _attempt(s, average, alice, 3, "finished", timestart=NOW - 1_000, timefinish=NOW - 100)

    # First attempt (3): the first *finished* attempt (2: 12 of 20), not the abandoned attempt 1,
    # nor the better attempt 3: 12 * 100 / 20 = 60.0.
    first = _quiz(s, a, "First", grademethod=3, sumgrades=20, grade=100)
    _attempt(s, first, alice, 1, "abandoned")
    _attempt(s, first, alice, 2, "finished", sumgrades=12, timefinish=NOW - 8_000)
    _attempt(s, first, alice, 3, "finished", sumgrades=18, timefinish=NOW - 7_000)

    # Last attempt (4): the last *finished* attempt (2: 9 of 20), not the better attempt 1, nor
    # attempt 3 in progress: 9 * 100 / 20 = 45.0.
    last = _quiz(s, a, "Last", grademethod=4, sumgrades=20, grade=100)
    _attempt(s, last, alice, 1, "finished", sumgrades=18, timefinish=NOW - 9_000)
    _attempt(s, last, alice, 2, "finished", sumgrades=9, timefinish=NOW - 8_000)
    _attempt(s, last, alice, 3, "inprogress")

    # Last attempt with the last finished attempt not graded yet (sumgrades NULL): no grade,
    # even though attempt 1 has one (Moodle takes the last attempt's sumgrades as it is).
    ungraded = _quiz(s, a, "Last ungraded", grademethod=4, sumgrades=10, grade=10)
    _attempt(s, ungraded, alice, 1, "finished", sumgrades=10, timefinish=NOW - 9_000)
    _attempt(s, ungraded, alice, 2, "finished", timefinish=NOW - 8_000)

    # A quiz without marks (sumgrades 0): Moodle's guard gives 0, not a division by zero.
    nomarks = _quiz(s, a, "No marks", grademethod=1, sumgrades=0, grade=10)
    _attempt(s, nomarks, alice, 1, "finished", sumgrades=0, timefinish=NOW - 9_000)

    # Course B: thirds, where integer division (SQLite) or early rounding would show.
    #   Highest: 2 of 3 -> 2 * 10 / 3 = 6.666666... -> 6.66667.
    thirds = _quiz(s, b, "Thirds", grademethod=1, sumgrades=3, grade=10)
    _attempt(s, thirds, alice, 1, "finished", sumgrades=2, timefinish=NOW - 9_000)
    #   Average: (1 + 2 + 2) / 3 = 5/3 -> 5/3 * 10 / 3 = 50/9 = 5.5555... -> 5.55556.
    avgthirds = _quiz(s, b, "Average thirds", grademethod=2, sumgrades=3, grade=10)
    for number, marks in enumerate((1, 2, 2), start=1):
        _attempt(s, avgthirds, alice, number, "finished", sumgrades=marks, timefinish=NOW - 9_000)

    alpha = s.insert("company", name="Alpha", shortname="alpha", code="A", city="", country="")
    s.insert("company_users", companyid=alpha, userid=bob, departmentid=0)
    s.ids = {  # type: ignore[attr-defined]
        "a": a, "b": b, "alpha": alpha, "highest": highest, "average": average,
        "first": first, "last": last, "nomarks": nomarks, "thirds": thirds,
        "avgthirds": avgthirds,
    }  # fmt: skip
    yield s
    s.dispose()


def run(site: MoodleSite, **params: str) -> list[dict[str, Any]]:
    return report_rows(site.url, "quiz_attempts", as_of=AS_OF, params=params)


def _by_key(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(row["quiz_name"], row["username"]): row for row in rows}


def _grade(row: dict[str, Any]) -> float | None:
    value = row["best_grade"]
    return None if value is None else float(value)


def test_one_row_per_user_and_quiz_with_previews_and_deleted_users_left_out(
    site: MoodleSite,
) -> None:
    rows = run(site)
    assert sorted(_by_key(rows)) == sorted(
        [
            ("Highest", "alice"), ("Highest", "bob"), ("Highest", "dave"),
            ("Average", "alice"), ("First", "alice"), ("Last", "alice"),
            ("Last ungraded", "alice"), ("No marks", "alice"), ("Thirds", "alice"),
            ("Average thirds", "alice"),
        ]
    )  # fmt: skip
    assert list(rows[0]) == [
        "quizid", "quiz_name", "courseid", "userid", "username", "attempts", "best_grade",
        "last_attempt_state", "last_attempt_finished", "time_taken_seconds", "max_grade",
        "enrolled",
    ]  # fmt: skip


def test_attempts_count_every_state_but_previews(site: MoodleSite) -> None:
    rows = _by_key(run(site))
    # alice: 3 of her own (the preview attempt 4 is not one); bob: all six states.
    assert int(rows["Highest", "alice"]["attempts"]) == 3
    assert int(rows["Highest", "bob"]["attempts"]) == 6
    assert int(rows["Highest", "dave"]["attempts"]) == 1


def test_best_grade_by_each_grading_method(site: MoodleSite) -> None:
    rows = _by_key(run(site))
    assert _grade(rows["Highest", "alice"]) == pytest.approx(75.0)  # 7.5 of 10 -> 75 of 100
    assert _grade(rows["Highest", "bob"]) == pytest.approx(50.0)  # only the finished attempt
    assert _grade(rows["Average", "alice"]) == pytest.approx(8.125)
    assert _grade(rows["First", "alice"]) == pytest.approx(60.0)
    assert _grade(rows["Last", "alice"]) == pytest.approx(45.0)
    assert _grade(rows["Thirds", "alice"]) == pytest.approx(6.66667, abs=1e-9)
    assert _grade(rows["Average thirds", "alice"]) == pytest.approx(5.55556, abs=1e-9)
    assert float(rows["Highest", "alice"]["max_grade"]) == pytest.approx(100.0)


def test_no_graded_attempt_means_no_grade_and_a_markless_quiz_grades_zero(
    site: MoodleSite,
) -> None:
    rows = _by_key(run(site))
    assert rows["Highest", "dave"]["best_grade"] is None
    assert rows["Last ungraded", "alice"]["best_grade"] is None
    assert _grade(rows["No marks", "alice"]) == 0.0


def test_last_attempt_state_finish_time_and_duration(site: MoodleSite) -> None:
    rows = _by_key(run(site))
    # alice's last attempt at Highest is in progress: no finish time, no duration.
    alice = rows["Highest", "alice"]
    assert alice["last_attempt_state"] == "inprogress"
    assert alice["last_attempt_finished"] is None
    assert alice["time_taken_seconds"] is None
    # bob's last attempt is 'submitted' (Moodle 5.0): submitted NOW - 100, took 600 s.
    bob = rows["Highest", "bob"]
    assert bob["last_attempt_state"] == "submitted"
    assert int(bob["last_attempt_finished"]) == NOW - 100
    assert int(bob["time_taken_seconds"]) == 600
    average = rows["Average", "alice"]
    assert average["last_attempt_state"] == "finished"
    assert int(average["last_attempt_finished"]) == NOW - 100
    assert int(average["time_taken_seconds"]) == 900


def test_enrolled_says_whether_the_enrolment_is_active_at_the_moment_of_the_run(
    site: MoodleSite,
) -> None:
    rows = _by_key(run(site))
    assert int(rows["Highest", "alice"]["enrolled"]) == 1
    assert int(rows["Highest", "bob"]["enrolled"]) == 0  # ended at NOW - 1
    assert int(rows["Highest", "dave"]["enrolled"]) == 0  # never enrolled
    assert int(rows["Thirds", "alice"]["enrolled"]) == 1


def test_course_quiz_and_company_filters(site: MoodleSite) -> None:
    ids = site.ids  # type: ignore[attr-defined]
    in_b = run(site, courseid=str(ids["b"]))
    assert sorted(row["quiz_name"] for row in in_b) == ["Average thirds", "Thirds"]
    assert {int(row["courseid"]) for row in in_b} == {ids["b"]}
    only_first = run(site, quizid=str(ids["first"]))
    assert [(row["quiz_name"], row["username"]) for row in only_first] == [("First", "alice")]
    alpha = run(site, companyid=str(ids["alpha"]))
    assert [(row["quiz_name"], row["username"]) for row in alpha] == [("Highest", "bob")]
    assert run(site, courseid="999999") == []


def test_company_filter_needs_iomad(sqlite_url: str) -> None:
    site = MoodleSite(sqlite_url, iomad=False)
    try:
        with pytest.raises(InputError, match="companyid needs an IOMAD site"):
            report_rows(site.url, "quiz_attempts", as_of=AS_OF, params={"companyid": "1"})
    finally:
        site.dispose()
