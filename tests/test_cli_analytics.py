"""`manireports analytics engagement|at-risk` end to end, on the hand-made site of
tests/analytics_site.py (SQLite; the rules themselves are checked on every engine in
test_analytics.py)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.analytics_site import AS_OF, AnalyticsSite, build
from tests.cli_runner import invoke


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnalyticsSite]:
    tmp = tmp_path_factory.mktemp("cli_analytics")
    s = build(f"sqlite:///{tmp / 'moodle.sqlite'}", f"sqlite:///{tmp / 'state.sqlite'}")
    yield s
    s.moodle.dispose()


def csv_rows(output: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(output.decode())))


def test_engagement_csv(site: AnalyticsSite) -> None:
    result = invoke("analytics", "engagement", "--as-of", AS_OF, env=site.environ())
    assert result.returncode == 0, result.stderr
    rows = csv_rows(result.stdout)
    assert list(rows[0]) == [
        "userid", "username", "courseid", "time_spent_seconds", "active_days",
        "completion_percent", "interactions", "engagement_score",
    ]  # fmt: skip
    by_name = {row["username"]: row for row in rows}
    # Worked out in tests/analytics_site.py: alice 77, bob 19.5, carol 0, dave 32.86 (a whole
    # number has no decimal point, on every engine).
    assert [by_name[n]["engagement_score"] for n in ("alice", "bob", "carol", "dave")] == [
        "77", "19.5", "0", "32.86",
    ]  # fmt: skip
    assert by_name["dave"]["completion_percent"] == ""


def test_at_risk_explain_as_json_and_records(site: AnalyticsSite) -> None:
    course = str(site.courses["A"])
    result = invoke(
        "analytics", "at-risk", "--course", course, "--explain", "--as-of", AS_OF, "-f", "json",
        env=site.environ(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = {row["username"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {"alice", "bob", "carol"}
    bob = rows["bob"]
    assert (bob["risk_score"], bob["at_risk"]) == (50, True)
    rules = ("low_time", "no_recent_access", "low_completion", "low_engagement")
    assert [bob[rule] for rule in rules] == [True, False, False, True]
    assert (bob["min_time_seconds"], bob["min_engagement"], bob["time_reference"]) == (
        3600, 30.0, 9000.0,
    )  # fmt: skip
    assert (bob["time_normalised"], bob["time_weight"], bob["time_source"]) == (
        0.2, 0.3, "daily totals",
    )  # fmt: skip
    blocks = invoke(
        "analytics", "at-risk", "--course", course, "--explain", "--as-of", AS_OF,
        "-f", "records", env=site.environ(),
    )  # fmt: skip
    assert blocks.returncode == 0, blocks.stderr
    text = blocks.stdout.decode()
    assert text.count("-[ Learners at risk:") == 3
    assert "interaction_normalised  0.6" in text


def test_scope_and_recorded_runs(site: AnalyticsSite, tmp_path: Path) -> None:
    mine = invoke(
        "analytics", "engagement", "--as-user", "alice", "--as-of", AS_OF, env=site.environ()
    )
    assert mine.returncode == 0, mine.stderr
    assert [row["username"] for row in csv_rows(mine.stdout)] == ["alice"]
    teacher = invoke(
        "analytics", "at-risk", "--as-user", "tina", "--as-of", AS_OF, "-o",
        str(tmp_path / "risk.csv"), env=site.environ(),
    )  # fmt: skip
    assert teacher.returncode == 0, teacher.stderr
    written = csv_rows((tmp_path / "risk.csv").read_bytes())
    assert sorted(row["username"] for row in written) == ["alice", "bob", "carol"]
    engine = sa.create_engine(site.state_url)
    try:
        with engine.connect() as connection:
            runs = connection.execute(
                sa.text(
                    "SELECT report, actinguser, status, rowcount FROM manireports_report_runs "
                    "WHERE report IN ('user_engagement', 'at_risk') ORDER BY id"
                )
            ).all()
    finally:
        engine.dispose()
    assert (
        "user_engagement", site.users["alice"], "completed", 1,
    ) in [tuple(run) for run in runs]  # fmt: skip
    assert ("at_risk", site.users["tina"], "completed", 3) in [tuple(run) for run in runs]


def test_weights_not_summing_to_one_exit_2(site: AnalyticsSite) -> None:
    env = site.environ(analytics_engagement_interaction_weight="0.3")
    for command in ("engagement", "at-risk"):
        result = invoke("analytics", command, "--as-of", AS_OF, env=env)
        assert result.returncode == 2
        assert result.stdout == b""
        message = result.stderr.decode()
        assert "Traceback" not in message
        assert "time_weight 0.3 + login_weight 0.2 + completion_weight 0.3 + " in message
        assert "interaction_weight 0.3 = 1.1" in message


def test_bad_input(site: AnalyticsSite) -> None:
    bad = invoke("run-report", "at_risk", "--param", "explain=maybe", env=site.environ())
    assert bad.returncode == 2
    assert "explain must be true or false" in bad.stderr.decode()
    bad_course = invoke("analytics", "engagement", "--course", "x", env=site.environ())
    assert bad_course.returncode == 2
