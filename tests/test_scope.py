"""Who sees what, on a hand-made IOMAD site on every engine.

Company A has a three-level department tree (A > A1 > A11); company B one department. Expected
rows below come from the IOMAD rules read by hand, not from running the scoping code.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from manireports.errors import InputError, PermissionDeniedError
from tests.moodle_site import MoodleSite
from tests.reporting import report_rows

AS_OF = "2030-01-01"


@pytest.fixture
def site(db_url: str) -> Iterator[MoodleSite]:
    s = MoodleSite(db_url)
    c1, c2 = s.course("C1"), s.course("C2")
    a = s.insert("company", name="Alpha", shortname="A", code="A", city="", country="")
    b = s.insert("company", name="Beta", shortname="B", code="B", city="", country="")
    top_a = s.insert("department", name="A", shortname="A", company=a, parent=0)
    a1 = s.insert("department", name="A1", shortname="A1", company=a, parent=top_a)
    a11 = s.insert("department", name="A11", shortname="A11", company=a, parent=a1)
    top_b = s.insert("department", name="B", shortname="B", company=b, parent=0)
    users = {}
    for name, memberships in {
        "mgra": [(a, top_a, 1)],
        "dmgr": [(a, a1, 2)],
        "utop": [(a, top_a, 0)],
        "ua1": [(a, a1, 0)],
        "ua11": [(a, a11, 0)],
        "ub": [(b, top_b, 0)],
        "uab": [(a, top_a, 0), (b, top_b, 0)],
        "mgrb": [(b, top_b, 1)],
        "teacher": [],
        "s1": [],
        "gone": [],
    }.items():
        users[name] = s.user(name, suspended=1 if name == "gone" else 0)
        for company, department, kind in memberships:
            s.insert(
                "company_users", companyid=company, userid=users[name],
                departmentid=department, managertype=kind,
            )  # fmt: skip
    for name in ("mgra", "utop", "ua1", "ua11", "ub", "uab", "s1"):
        s.enrol(users[name], c1)
    s.enrol(users["teacher"], c1, role="editingteacher")
    s.enrol(users["teacher"], c2)
    s.ids = {"c1": c1, "c2": c2, "a": a, "b": b}  # type: ignore[attr-defined]
    yield s
    s.dispose()


def seen(site: MoodleSite, who: str | None, company: int | None = None) -> set[tuple[str, str]]:
    rows = report_rows(site.url, "course_completion", as_of=AS_OF, as_user=who, company=company)
    return {(row["username"], row["course_shortname"]) for row in rows}


EVERYONE = {
    ("mgra", "C1"), ("utop", "C1"), ("ua1", "C1"), ("ua11", "C1"), ("ub", "C1"), ("uab", "C1"),
    ("s1", "C1"), ("teacher", "C2"),
}  # fmt: skip


def test_operator_and_site_admin_see_everything(site: MoodleSite) -> None:
    assert seen(site, None) == EVERYONE
    assert seen(site, "admin") == EVERYONE
    assert seen(site, "2") == EVERYONE


def test_company_manager_sees_their_company_including_multi_company_users(site: MoodleSite) -> None:
    assert seen(site, "mgra") == {
        ("mgra", "C1"), ("utop", "C1"), ("ua1", "C1"), ("ua11", "C1"), ("uab", "C1"),
    }  # fmt: skip
    assert seen(site, "mgrb") == {("ub", "C1"), ("uab", "C1")}


def test_department_manager_sees_the_subtree(site: MoodleSite) -> None:
    assert seen(site, "dmgr") == {("ua1", "C1"), ("ua11", "C1")}


def test_teacher_sees_their_course_and_their_own_rows(site: MoodleSite) -> None:
    assert seen(site, "teacher") == EVERYONE


def test_learner_sees_only_themselves(site: MoodleSite) -> None:
    assert seen(site, "s1") == {("s1", "C1")}
    assert seen(site, "ua11") == {("ua11", "C1")}


def test_company_narrows_and_is_checked(site: MoodleSite) -> None:
    a, b = site.ids["a"], site.ids["b"]  # type: ignore[attr-defined]
    assert seen(site, None, company=b) == {("ub", "C1"), ("uab", "C1")}
    assert seen(site, "mgra", company=a) == seen(site, "mgra")
    with pytest.raises(PermissionDeniedError, match="may not see company"):
        seen(site, "mgra", company=b)


def test_department_manager_may_pick_their_company(site: MoodleSite) -> None:
    # dmgr manages A1 (in Alpha): within Alpha, the A1 subtree (A1, A11); Beta is not theirs.
    a, b = site.ids["a"], site.ids["b"]  # type: ignore[attr-defined]
    assert seen(site, "dmgr", company=a) == {("ua1", "C1"), ("ua11", "C1")}
    with pytest.raises(PermissionDeniedError, match="they manage companies 1"):
        seen(site, "dmgr", company=b)


def test_a_company_that_does_not_exist_is_an_input_error(site: MoodleSite) -> None:
    with pytest.raises(InputError, match="no IOMAD company 99"):
        seen(site, None, company=99)
    with pytest.raises(InputError, match="no IOMAD company 99"):
        seen(site, "mgra", company=99)


def _categories(site: MoodleSite) -> dict[str, int]:
    """Category Cat (course C3) with subcategory Sub (course C4), and managers of each kind.

    Course contexts sit under their category's context, as Moodle builds them.
    """
    sys = site.system_context
    cat = site.insert("course_categories", name="Cat", parent=0, path="", depth=1)
    sub = site.insert("course_categories", name="Sub", parent=cat, path="", depth=2)
    cat_ctx = site.insert("context", contextlevel=40, instanceid=cat, path="", depth=2)
    site.update("context", cat_ctx, path=f"/{sys}/{cat_ctx}")
    sub_ctx = site.insert("context", contextlevel=40, instanceid=sub, path="", depth=3)
    site.update("context", sub_ctx, path=f"/{sys}/{cat_ctx}/{sub_ctx}")
    c3 = site.course("C3", category=cat)
    site.update(
        "context", site.course_context(c3), path=f"/{sys}/{cat_ctx}/{site.course_context(c3)}"
    )
    c4 = site.course("C4", category=sub)
    c4_ctx = site.course_context(c4)
    site.update("context", c4_ctx, path=f"/{sys}/{cat_ctx}/{sub_ctx}/{c4_ctx}")
    users = {name: site.user(name) for name in ("sysmgr", "catmgr", "submgr", "s3", "s4")}
    site.enrol(users["s3"], c3)
    site.enrol(users["s4"], c4)
    site.assign(users["sysmgr"], sys, "manager")
    site.assign(users["catmgr"], cat_ctx, "manager")
    site.assign(users["submgr"], sub_ctx, "manager")
    return {"cat": cat_ctx, "sub": sub_ctx}


def test_moodle_manager_role_by_context(site: MoodleSite) -> None:
    _categories(site)
    everything = EVERYONE | {("s3", "C3"), ("s4", "C4")}
    # System context: what the site admin sees.
    assert seen(site, "sysmgr") == everything == seen(site, "admin")
    # Category context: the courses of Cat and of its subcategory Sub.
    assert seen(site, "catmgr") == {("s3", "C3"), ("s4", "C4")}
    # Subcategory: only Sub's course.
    assert seen(site, "submgr") == {("s4", "C4")}
    # A system manager may narrow to any company; a category manager manages none.
    b = site.ids["b"]  # type: ignore[attr-defined]
    assert seen(site, "sysmgr", company=b) == {("ub", "C1"), ("uab", "C1")}
    with pytest.raises(PermissionDeniedError, match="they manage none"):
        seen(site, "catmgr", company=b)


def test_suspended_and_unknown_acting_users(site: MoodleSite) -> None:
    with pytest.raises(PermissionDeniedError, match="suspended"):
        seen(site, "gone")
    with pytest.raises(InputError, match="no Moodle user"):
        seen(site, "nobody")


def test_without_iomad_company_is_an_input_error(tmp_path) -> None:
    plain = MoodleSite(f"sqlite:///{tmp_path / 'plain.sqlite'}", iomad=False)
    with pytest.raises(InputError, match="needs IOMAD"):
        report_rows(plain.url, "course_completion", company=1)


def test_company_selector_lists_what_the_user_may_pick(site: MoodleSite) -> None:
    from manireports.moodle.connection import MoodleDB
    from manireports.moodle.detect import detect_site
    from manireports.scope import visible_companies

    db = MoodleDB(site.url)
    info = detect_site(db)

    def departments(who: str | None) -> set[tuple[str, str | None]]:
        return {(row[1], row[3]) for row in visible_companies(db, info, who)}

    everything = {("Alpha", "A"), ("Alpha", "A1"), ("Alpha", "A11"), ("Beta", "B")}
    assert departments(None) == everything
    assert departments("admin") == everything
    assert departments("mgra") == {("Alpha", "A"), ("Alpha", "A1"), ("Alpha", "A11")}
    assert departments("dmgr") == {("Alpha", "A1"), ("Alpha", "A11")}
    assert departments("s1") == set()
    _categories(site)
    assert departments("sysmgr") == everything
    assert departments("catmgr") == set()
    db.dispose()
