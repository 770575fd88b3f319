"""The ORDER BY of custom SQL restated over output positions, for the scope's wrapper."""

from __future__ import annotations

import pytest

from manireports.scope import wrap_query
from manireports.sqlorder import outer_order

OUTPUT = ["userid", "username", "enrolled"]
SELECT = (
    "SELECT u.id AS userid, u.username, ue.timecreated AS enrolled "
    "FROM {user} u JOIN {user_enrolments} ue ON ue.userid = u.id"
)


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("ORDER BY ue.timecreated DESC", "3 DESC"),  # the expression behind an alias
        ("ORDER BY enrolled DESC, u.username", "3 DESC, 2"),  # an alias, a plain column
        ("ORDER BY 2 DESC", "2 DESC"),  # a position
        ("ORDER BY u.id", "1"),
        ("ORDER BY enrolled DESC NULLS LAST", "3 DESC NULLS LAST"),
        ("ORDER BY u.lastaccess", None),  # not an output column: nothing to restate
        ("ORDER BY 7", None),
        ("", None),
    ],
)
def test_terms_become_output_positions(order: str, expected: str | None) -> None:
    assert outer_order(f"{SELECT} WHERE u.id = :userid {order}", OUTPUT) == expected


def test_star_and_union() -> None:
    assert (
        outer_order("SELECT u.* FROM {user} u ORDER BY u.lastaccess DESC", ["id", "lastaccess"])
        == "2 DESC"
    )
    union = "SELECT id FROM {course} UNION SELECT id FROM {user} ORDER BY id DESC"
    assert outer_order(union, ["id"]) == "1 DESC"
    # A window's ORDER BY is not the query's.
    window = "SELECT u.id, ROW_NUMBER() OVER (ORDER BY u.id DESC) AS n FROM {user} u"
    assert outer_order(window, ["id", "n"]) is None


def test_wrapper_repeats_the_order_outside() -> None:
    wrapped = wrap_query(f"{SELECT} ORDER BY ue.timecreated DESC;", "r.userid = 5", OUTPUT)
    assert wrapped.endswith(") r\nWHERE r.userid = 5\nORDER BY 3 DESC")
    assert wrap_query(SELECT, None, OUTPUT) == SELECT
