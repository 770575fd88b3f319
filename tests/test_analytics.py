"""Engagement scores and at-risk rules against the hand-made site of tests/analytics_site.py,
on SQLite, MariaDB and PostgreSQL. Every expected number is worked out there by hand."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from manireports.errors import ConfigError, InputError
from tests.analytics_site import AnalyticsSite, build, window_days
from tests.conftest import ENGINES, fresh_database


@pytest.fixture(params=ENGINES)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AnalyticsSite]:
    tmp = tmp_path_factory.mktemp("analytics")
    moodle, state = fresh_database(request.param, tmp), fresh_database(request.param, tmp)
    s = build(next(moodle), next(state), daily=request.node.get_closest_marker("log") is None)
    yield s
    s.moodle.dispose()
    state.close()
    moodle.close()


def scores(site: AnalyticsSite, **kwargs: Any) -> dict[str, tuple[Any, ...]]:
    """(course, time, active days, completion %, interactions, score) by learner name."""
    courses = {v: k for k, v in site.courses.items()}
    return {
        name: (
            courses[row["courseid"]],
            row["time_spent_seconds"],
            row["active_days"],
            row["completion_percent"],
            row["interactions"],
            row["engagement_score"],
        )
        for name, row in site.by_name(site.rows("user_engagement", **kwargs)).items()
    }


def test_engagement_scores_worked_out_by_hand(site: AnalyticsSite) -> None:
    found = scores(site)
    # erin (completion off in C), tina (a teacher) are not scored.
    assert set(found) == {"alice", "bob", "carol", "dave", "frank", "gina", "hugo"}
    assert found["alice"] == ("A", 10800, 6, 50.0, 12, 77.0)
    assert found["bob"] == ("A", 1800, 1, 25.0, 2, 19.5)
    # A learner with no activity at all scores 0 on every input.
    assert found["carol"] == ("A", 0, 0, 0.0, 0, 0.0)
    # A course with one learner and no activity completion: the floors keep a lone learner from
    # scoring 100, the completion weight is shared out, completion_percent stays empty.
    assert found["dave"] == ("B", 1200, 1, None, 3, 32.86)


def test_explain_shows_inputs_references_and_weights(site: AnalyticsSite) -> None:
    rows = site.by_name(site.rows("user_engagement", params={"explain": "true"}))
    first, last = window_days()
    bob = rows["bob"]
    assert (bob["window_from"], bob["window_to"], bob["time_source"]) == (
        first,
        last,
        "daily totals",
    )
    assert (bob["time_reference"], bob["time_normalised"], bob["time_weight"]) == (9000, 0.2, 0.3)
    assert (bob["login_reference"], bob["login_normalised"], bob["login_weight"]) == (5, 0.2, 0.2)
    assert (bob["completion_normalised"], bob["completion_weight"]) == (0.25, 0.3)
    assert (bob["interaction_reference"], bob["interaction_normalised"]) == (20, 0.1)
    dave = rows["dave"]
    # 0.3 / 0.7, 0.2 / 0.7 rounded to 4 places; completion weighs nothing here.
    assert (dave["time_reference"], dave["time_normalised"], dave["time_weight"]) == (
        3600,
        0.3333,
        0.4286,
    )
    assert (dave["completion_normalised"], dave["completion_weight"]) == (None, 0.0)
    assert (dave["login_weight"], dave["interaction_weight"]) == (0.2857, 0.2857)


def test_at_risk_rules_and_scores(site: AnalyticsSite) -> None:
    rows = site.by_name(site.rows("at_risk"))
    rules = ("low_time", "no_recent_access", "low_completion", "low_engagement")

    def summary(name: str) -> tuple[object, ...]:
        row = rows[name]
        return (row["risk_score"], row["at_risk"], *(row[rule] for rule in rules))

    assert summary("alice") == (0, False, False, False, False, False)
    # bob: time 1800 < 3600 and engagement 19.5 < 30 fire; completion 25 is at its threshold
    # (25), so it does not; 50 reaches at_risk_score 50.
    assert summary("bob") == (50, True, True, False, False, True)
    # carol never accessed the course: every rule fires.
    assert summary("carol") == (100, True, True, True, True, True)
    assert rows["carol"]["days_since_access"] is None
    # dave: only low time; no completion tracked, so that rule cannot fire.
    assert summary("dave") == (25, False, True, False, False, False)
    # Course D, boundaries: time 3599 / 3600 / 3601 against 3600 (fires strictly below);
    # 13 / 14 / 15 whole days since access against 14 (fires strictly above).
    assert [rows[n]["days_since_access"] for n in ("frank", "gina", "hugo")] == [13, 14, 15]
    assert [rows[n]["low_time"] for n in ("frank", "gina", "hugo")] == [True, False, False]
    assert [rows[n]["no_recent_access"] for n in ("frank", "gina", "hugo")] == [False, False, True]


def test_thresholds_are_configurable(site: AnalyticsSite) -> None:
    rows = site.by_name(
        site.rows(
            "at_risk",
            params={"courseid": str(site.courses["A"]), "explain": "yes"},
            analytics_at_risk_min_completion_percent="25.01",
            analytics_at_risk_min_engagement="19.5",
            analytics_at_risk_at_risk_score="75",
        )
    )
    assert set(rows) == {"alice", "bob", "carol"}
    bob = rows["bob"]
    # Completion 25 is now below 25.01; engagement 19.5 is at 19.5 and does not fire.
    assert (bob["low_completion"], bob["low_engagement"], bob["risk_score"]) == (True, False, 50)
    assert bob["at_risk"] is False  # 50 < 75
    assert (bob["min_completion_percent"], bob["min_engagement"], bob["at_risk_score"]) == (
        25.01,
        19.5,
        75,
    )
    assert rows["carol"]["at_risk"] is True


@pytest.mark.log
def test_time_from_the_log_without_daily_totals(site: AnalyticsSite) -> None:
    found = scores(site)
    assert found["alice"] == ("A", 1800, 6, 50.0, 12, 62.0)
    assert found["bob"] == ("A", 540, 1, 25.0, 2, 18.0)
    assert found["carol"] == ("A", 0, 0, 0.0, 0, 0.0)
    assert found["dave"] == ("B", 600, 1, None, 3, 25.71)
    explained = site.by_name(site.rows("user_engagement", params={"explain": "1"}))
    assert explained["alice"]["time_source"] == "log"


def test_scope_teacher_and_learner(site: AnalyticsSite) -> None:
    everyone = scores(site)
    teacher = scores(site, as_user="tina")
    # tina teaches A only; the scores are the same as the operator's (course-wide references).
    assert teacher == {name: everyone[name] for name in ("alice", "bob", "carol")}
    assert scores(site, as_user="alice") == {"alice": everyone["alice"]}
    assert scores(site, as_user="erin") == {}
    # A company manager, and the operator narrowing to that company: bob and dave only.
    company = {name: everyone[name] for name in ("bob", "dave")}
    assert scores(site, as_user="mona") == company
    assert scores(site, company=1) == company
    risky = site.by_name(site.rows("at_risk", as_user="bob"))
    assert list(risky) == ["bob"] and risky["bob"]["risk_score"] == 50


def test_course_filter_and_weights(site: AnalyticsSite) -> None:
    only_b = scores(site, params={"courseid": str(site.courses["B"])})
    assert list(only_b) == ["dave"]
    # All the weight on completion: dave's course measures none, so there is nothing to score.
    weights = {
        "analytics_engagement_time_weight": "0",
        "analytics_engagement_login_weight": "0",
        "analytics_engagement_completion_weight": "1",
        "analytics_engagement_interaction_weight": "0",
    }
    found = scores(site, **weights)
    assert found["dave"][5] is None
    assert found["alice"][5] == 50.0  # completion alone
    with pytest.raises(ConfigError, match=r"sum to 1\.0.*time_weight 0\.3 \+ login_weight 0\.2"):
        site.rows("user_engagement", analytics_engagement_interaction_weight="0.3")
    with pytest.raises(InputError, match="explain must be true or false"):
        site.rows("at_risk", params={"explain": "maybe"})
