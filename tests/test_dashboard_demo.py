"""Dashboards on the small demo: every role in HTML (opened by a real Chromium), PDF (read back)
and on the terminal; nothing outside the viewer's scope; the cache after `jobs build-cache`.

The viewers are picked from the demo with plain queries: a company manager, a teacher and a
learner who neither manages nor teaches.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from tests.browser import keep_artifact, load_page
from tests.cli_runner import invoke
from tests.dashboard_support import build_dashboard_demo, fetch

AS_OF = "2026-06-01 00:00"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return build_dashboard_demo(tmp_path_factory.mktemp("dashboard-demo"))


TEACHING = (
    "SELECT ra.userid, ctx.instanceid FROM mdl_role_assignments ra "
    "JOIN mdl_context ctx ON ctx.id = ra.contextid AND ctx.contextlevel = 50 "
    "JOIN mdl_role r ON r.id = ra.roleid WHERE r.shortname IN ('editingteacher', 'teacher')"
)
ENROLLED = (
    "SELECT ue.userid, e.courseid FROM mdl_user_enrolments ue JOIN mdl_enrol e ON e.id = ue.enrolid"
)


@pytest.fixture(scope="module")
def viewers(demo: dict[str, str]) -> dict[str, str]:
    """role -> username: a company manager, a teacher, and a learner who is neither."""
    manager = fetch(
        demo,
        "SELECT u.username FROM mdl_company_users cu JOIN mdl_user u ON u.id = cu.userid "
        "WHERE cu.managertype = 1 AND cu.suspended = 0 ORDER BY cu.companyid, u.id",
    )[0][0]
    staff = {row[0] for row in fetch(demo, TEACHING)} | {
        row[0] for row in fetch(demo, "SELECT userid FROM mdl_company_users WHERE managertype > 0")
    }
    teacher_id = sorted({row[0] for row in fetch(demo, TEACHING)})[0]
    learner_id = next(u for u, _c in sorted(fetch(demo, ENROLLED)) if u not in staff and u > 2)
    names = dict(fetch(demo, "SELECT id, username FROM mdl_user"))
    return {"manager": manager, "teacher": names[teacher_id], "student": names[learner_id]}


def render(env: dict[str, str], out: Path, *args: str) -> str:
    done = invoke("dashboard", "--as-of", AS_OF, *args, "-o", str(out), env=env)
    assert done.returncode == 0, done.stderr
    if out.suffix == ".pdf":
        return "\n".join(page.extract_text() for page in PdfReader(out).pages)
    return out.read_text(encoding="utf-8")


@pytest.mark.parametrize("role", ["admin", "manager", "teacher", "student"])
def test_every_role_in_html_pdf_and_terminal(
    demo: dict[str, str], viewers: dict[str, str], role: str, tmp_path: Path
) -> None:
    who = [] if role == "admin" else ["--as-user", viewers[role]]
    title = {
        "admin": "Site dashboard",
        "manager": "Company dashboard",
        "teacher": "Teaching dashboard",
        "student": "My learning",
    }[role]
    kpis = ["Time spent", "Average progress"]
    kpis += ["My courses"] if role == "student" else ["Active users", "Learners at risk"]
    html = render(demo, tmp_path / "d.html", *who)
    text = render(demo, tmp_path / "d.txt", *who)
    pdf = render(demo, tmp_path / "d.pdf", *who)
    for output in (html, text, pdf):
        assert title in output
        for kpi in kpis:
            assert kpi in output
    if role != "student":
        # The at_risk report is in the catalogue: its widget shows figures, not an apology.
        for output in (html, re.sub(r"\s+", " ", text), re.sub(r"\s+", " ", pdf)):
            assert "Learners at risk are not available" not in output
    # Every chart is an SVG with a title, a description and its data table.
    charts = html.count("<svg")
    assert charts >= 2 and html.count("<desc id=") == charts
    assert html.count("<summary>Data table:") == charts
    assert "http://" not in html.replace("http://www.w3.org/", "")
    assert "https://" not in html and "<script" not in html
    for width, name in ((1280, "desktop"), (375, "phone")):
        page = load_page(
            tmp_path / "d.html",
            width=width,
            evaluate="document.querySelectorAll('svg[role=img] title').length",
        )
        keep_artifact(f"dashboard-{role}-{name}.png", page.screenshot)
        assert page.errors == []
        assert not page.overflow, f"the {role} dashboard scrolls sideways at {width} px"
        assert page.evaluated == charts
        assert page.screenshot.startswith(b"\x89PNG")


def test_role_follows_the_user_and_bad_requests_exit_2(
    demo: dict[str, str], viewers: dict[str, str]
) -> None:
    mismatch = invoke("dashboard", "--as-user", viewers["teacher"], "--role", "manager", env=demo)
    assert mismatch.returncode == 2 and b"--role teacher" in mismatch.stderr
    student = invoke("dashboard", "--role", "student", env=demo)
    assert student.returncode == 2 and b"--as-user" in student.stderr
    bad = invoke("dashboard", "--format", "xlsx", env=demo)
    assert bad.returncode == 2 and b"html, pdf or terminal" in bad.stderr
    missing = invoke("dashboard", "--as-user", viewers["manager"], "--company", "999", env=demo)
    assert missing.returncode == 2 and b"no IOMAD company 999" in missing.stderr
    managed = {
        c for (c,) in fetch(
            demo,
            "SELECT cu.companyid FROM mdl_company_users cu JOIN mdl_user u ON u.id = cu.userid "
            f"WHERE u.username = '{viewers['manager']}' AND cu.managertype = 1",
        )
    }  # fmt: skip
    elsewhere = min(c for (c,) in fetch(demo, "SELECT id FROM mdl_company") if c not in managed)
    other = invoke(
        "dashboard", "--as-user", viewers["manager"], "--company", str(elsewhere), env=demo
    )
    assert other.returncode == 3 and f"may not see company {elsewhere}".encode() in other.stderr
    assert b"Traceback" not in other.stderr


def _shown_courses(html: str) -> set[str]:
    """Course shortnames in the courses table and the completion chart's data."""
    found = set()
    for section in re.findall(
        r"<h2 id=\"w\d+\">(?:Courses|Completion by course|Progress by "
        r"course|My courses)</h2>(.*?)</section>",
        html,
        re.S,
    ):
        found |= set(re.findall(r"<t[hd][^>]*>([A-Z]+\d+)</t[hd]>", section))
    return found


def test_nothing_outside_the_viewers_scope(
    demo: dict[str, str], viewers: dict[str, str], tmp_path: Path
) -> None:
    shortname = dict(fetch(demo, "SELECT id, shortname FROM mdl_course"))
    names = dict(fetch(demo, "SELECT username, id FROM mdl_user"))
    enrolled = fetch(demo, ENROLLED)
    everything = _shown_courses(render(demo, tmp_path / "a.html"))
    # Manager: only courses in which a user of their companies is enrolled.
    manager = names[viewers["manager"]]
    companies = {
        c
        for (c,) in fetch(
            demo,
            f"SELECT companyid FROM mdl_company_users WHERE userid = {manager} AND managertype = 1",
        )
    }
    members = {
        u
        for u, c in fetch(demo, "SELECT userid, companyid FROM mdl_company_users")
        if c in companies
    }
    allowed = {shortname[c] for u, c in enrolled if u in members}
    shown = _shown_courses(render(demo, tmp_path / "m.html", "--as-user", viewers["manager"]))
    assert shown and shown <= allowed
    # Teacher: the courses they teach, and their own rows as a learner elsewhere (grants add up).
    teacher = names[viewers["teacher"]]
    taught = {shortname[c] for u, c in fetch(demo, TEACHING) + enrolled if u == teacher}
    shown = _shown_courses(render(demo, tmp_path / "t.html", "--as-user", viewers["teacher"]))
    assert shown and shown <= taught
    # Student: their own courses, and no other learner's username anywhere.
    student = names[viewers["student"]]
    own = {shortname[c] for u, c in enrolled if u == student}
    html = render(demo, tmp_path / "s.html", "--as-user", viewers["student"])
    shown = _shown_courses(html)
    assert shown and shown <= own and shown < everything
    others = [n for n in names if n != viewers["student"] and len(n) > 3]
    leaked = [n for n in others if re.search(rf"(?<![\w.]){re.escape(n)}(?![\w.])", html)]
    assert leaked == []


def test_dashboard_reads_the_cache_after_build_cache(demo: dict[str, str], tmp_path: Path) -> None:
    env = {**demo, "MANIREPORTS_STATE_URL": f"sqlite:///{tmp_path / 'state.sqlite'}"}
    assert invoke("db", "upgrade", env=env).returncode == 0
    assert invoke("jobs", "build-cache", env=env).returncode == 0

    def stats() -> dict[str, dict[str, Any]]:
        done = invoke("cache", "stats", "--format", "json", env=env)
        return {s["reporttype"]: s for s in json.loads(done.stdout)}

    assert stats()["dashboard_admin"]["hits"] == 0
    for expected in (1, 2):
        done = invoke("dashboard", "-o", str(tmp_path / "d.html"), env=env)
        assert done.returncode == 0, done.stderr
        assert stats()["dashboard_admin"]["hits"] == expected
    # The teacher's dashboard is not pre-built: its first opening computes it (a miss, reading
    # the trend entries it may share with nobody), the second reads it.
    teacher = fetch(demo, TEACHING)[0][0]
    for hits in (0, 1):
        done = invoke("dashboard", "--as-user", str(teacher), env=env)
        assert done.returncode == 0, done.stderr
        assert (stats()["dashboard_teacher"]["hits"], stats()["dashboard_teacher"]["misses"]) == (
            hits,
            1,
        )
    # --no-cache recomputes: neither a hit nor a miss.
    assert invoke("dashboard", "--no-cache", env=env).returncode == 0
    assert stats()["dashboard_admin"]["hits"] == 2
