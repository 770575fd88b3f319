"""The users the README, the docs and the command help name in their examples exist in the demo.

`manireports demo init` builds the small demo with seed 1; its usernames do not depend on the day
it is built. Every `--as-user`, `--recipient`, `--user` and `--owner` value in an example that is
not a placeholder (USER, ID, U) must be an active user of that demo, so the examples can be run
as written.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from manireports.demo import build_demo
from tests.cli_runner import REPO

OPTION = re.compile(r"--(?:as-user|recipient|user|owner)[ =]([A-Za-z0-9._@-]+)")
PLACEHOLDER = re.compile(r"[A-Z_]+")


def named_users() -> dict[str, set[str]]:
    files = [
        REPO / "README.md",
        *sorted((REPO / "manireports" / "cli").glob("*.py")),
        *sorted((REPO / "docs").glob("*.md")),
    ]
    found: dict[str, set[str]] = {}
    for path in files:
        for value in OPTION.findall(path.read_text(encoding="utf-8")):
            if "@" in value or PLACEHOLDER.fullmatch(value):
                continue
            found.setdefault(value, set()).add(path.name)
    return found


def test_example_users_exist_in_the_demo(tmp_path: Path) -> None:
    names = named_users()
    assert {"sian.taylor", "jack.fitzgerald", "deshawn.lee2"} <= set(names)
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    build_demo(url, size="small", seed=1, anchor=date(2026, 12, 7))
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        active = {
            str(value)
            for row in connection.execute(
                sa.text("SELECT id, username FROM mdl_user WHERE deleted = 0 AND suspended = 0")
            )
            for value in row
        }
        completed = connection.execute(
            sa.text(
                "SELECT COUNT(*) FROM mdl_course_completions cc JOIN mdl_user u "
                "ON u.id = cc.userid WHERE u.username = 'malgorzata.wojcik' AND cc.course = 12 "
                "AND cc.timecompleted > 0"
            )
        ).scalar()
    engine.dispose()
    missing = {name: sorted(where) for name, where in names.items() if name not in active}
    assert missing == {}
    assert completed == 1  # the certificate example's learner completed course 12
