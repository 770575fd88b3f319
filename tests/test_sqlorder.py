"""The ORDER BY of custom SQL restated over output positions, for the scope's wrapper."""

from __future__ import annotations

import pytest

from manireports.scope import wrap_query
from manireports.sqlorder import keep_order, outer_order, quote

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
    # u.* returns a column named id, but not ue.id.
    star = "SELECT u.*, ue.timestart FROM {user} u JOIN {user_enrolments} ue ON ue.userid = u.id"
    assert outer_order(f"{star} ORDER BY ue.id", ["id", "username", "timestart"]) is None
    assert outer_order(f"{star} ORDER BY u.id", ["id", "username", "timestart"]) == "1"
    union = "SELECT id FROM {course} UNION SELECT id FROM {user} ORDER BY id DESC"
    assert outer_order(union, ["id"]) == "1 DESC"
    # A window's ORDER BY is not the query's.
    window = "SELECT u.id, ROW_NUMBER() OVER (ORDER BY u.id DESC) AS n FROM {user} u"
    assert outer_order(window, ["id", "n"]) is None


def test_wrapper_repeats_the_order_outside() -> None:
    wrapped = wrap_query(f"{SELECT} ORDER BY ue.timecreated DESC;", "r.userid = 5", OUTPUT)
    assert wrapped.endswith(") r\nWHERE r.userid = 5\nORDER BY 3 DESC")
    assert wrap_query(SELECT, None, OUTPUT) == SELECT


NEWEST = (
    "SELECT u.id AS userid, CONCAT('%%WWWROOT%%/user/view.php%%Q%%id=', u.id) AS link\n"
    "  FROM {user} u JOIN {user_enrolments} ue ON ue.userid = u.id\n"
    " WHERE ue.timecreated > :date_from\n"
    " ORDER BY ue.timecreated DESC, 1"
)


def test_a_term_that_is_no_output_column_is_carried_hidden() -> None:
    kept = keep_order(NEWEST, ["userid", "link"], "mysql")
    assert kept.hidden and kept.lost is None
    assert kept.order == "r.mr_sort_1 DESC, 1"
    # Inserted where the select list ends; placeholders, parameters and tokens stay as written.
    assert kept.inner == NEWEST.replace(
        "AS link\n  FROM", "AS link\n  , ue.timecreated AS mr_sort_1\nFROM"
    )


def test_the_main_select_of_a_with_query_gets_the_column() -> None:
    sql = (
        "WITH t AS (SELECT id FROM {user} ORDER BY id) "
        "SELECT t.id AS userid, EXTRACT(YEAR FROM NOW()) AS y FROM t ORDER BY t.id * -1"
    )
    kept = keep_order(sql, ["userid", "y"], "postgresql")
    assert kept.inner == sql.replace(" AS y ", " AS y , t.id * -1 AS mr_sort_1\n")
    assert kept.order == "r.mr_sort_1"


@pytest.mark.parametrize(
    ("engine", "order", "expected"),
    [
        (
            "postgresql",
            'u.lastname COLLATE "C" DESC NULLS LAST',
            'r.mr_sort_1 COLLATE "C" DESC NULLS LAST',
        ),
        ("sqlite", "COUNT(*) DESC", "r.mr_sort_1 DESC"),
        ("mysql", "LOWER(username) DESC", "LOWER(r.username) DESC"),  # over output columns
        ("postgresql", "LOWER(username) DESC", "r.mr_sort_1 DESC"),  # input columns there
    ],
)
def test_collation_nulls_aggregates_and_output_expressions(
    engine: str, order: str, expected: str
) -> None:
    sql = f"SELECT u.id AS userid, u.username FROM {{user}} u GROUP BY u.id ORDER BY {order}"
    assert keep_order(sql, ["userid", "username"], engine).order == expected


def test_distinct_groups_its_rows_instead() -> None:
    sql = "SELECT DISTINCT u.id AS userid FROM {user} u ORDER BY u.lastaccess DESC LIMIT 5"
    kept = keep_order(sql, ["userid"], "mysql")
    assert kept.inner == (
        "SELECT  u.id AS userid , MAX(u.lastaccess) AS mr_sort_1\n"
        "FROM {user} u GROUP BY 1\nORDER BY mr_sort_1 DESC LIMIT 5"
    )
    assert kept.order == "r.mr_sort_1 DESC"


def test_what_cannot_be_kept_says_why() -> None:
    union = "SELECT id AS userid FROM {user} UNION SELECT userid FROM {user_enrolments}"
    assert keep_order(f"{union} ORDER BY -userid", ["userid"], "mysql").order == "-r.userid"
    lost = keep_order(f"{union} ORDER BY COUNT(*)", ["userid"], "mysql")
    assert lost.order is None and lost.lost is not None and "UNION" in lost.lost
    mixed = "SELECT u.id AS userid, u.lastaccess AS seen FROM {user} u ORDER BY seen + u.id"
    assert keep_order(mixed, ["userid", "seen"], "sqlite").lost is not None
    notices: list[str] = []
    wrapped = wrap_query(mixed, "r.userid = 5", ["userid", "seen"], "sqlite", notices.append)
    assert wrapped == f"SELECT r.* FROM (\n{mixed}\n) r\nWHERE r.userid = 5"
    assert len(notices) == 1 and "cannot be kept" in notices[0]


def test_the_wrapper_names_the_output_columns_when_it_carries_hidden_ones() -> None:
    wrapped = wrap_query(NEWEST, "r.userid = 5", ["userid", "link"], "mysql")
    assert wrapped.startswith("SELECT r.`userid`, r.`link` FROM (\n")
    assert wrapped.endswith(") r\nWHERE r.userid = 5\nORDER BY r.mr_sort_1 DESC, 1")
    assert quote('say "hi"', "postgresql") == '"say ""hi"""'
