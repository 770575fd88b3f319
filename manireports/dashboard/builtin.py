"""The built-in dashboards, one layout per role.

Site admins and company managers see the same layout (managers through their companies' scope,
with the company table); teachers the same without companies, scoped to their courses; students
their own courses, progress, time and grades. Which rows each one sees is decided by the report
runner alone.

Flows (active users, enrolments, completions, time spent) compare the last full month with the
month before it. States (average progress, learners at risk, a student's courses) compare now
with the end of the last full month, from the same report run `--as-of` that moment.

"Completed" means one thing everywhere: Moodle's course completion (course_completions
.timecompleted set), never 100 % progress. A learner who completed a course is not at risk in
it. A figure that appears twice on a page (a KPI and a table, a pie and a table) is computed
from the same rows, so the two agree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from statistics import fmean
from typing import Any, Literal

from manireports.analytics import AT_RISK_COLUMNS
from manireports.dashboard.model import Chart, Kpi, Series, Table, Widget
from manireports.dashboard.periods import Periods
from manireports.dashboard.sources import Sources
from manireports.reports.collect import Record

Role = Literal["admin", "manager", "teacher", "student"]
ROLES: tuple[Role, ...] = ("admin", "manager", "teacher", "student")

AT_RISK = "at_risk"
# The at_risk report's rule columns, in its order: true where the rule fired.
AT_RISK_RULES = tuple(
    column.name for column in AT_RISK_COLUMNS if column.kind == "bool" and column.name != "at_risk"
)
TABLE_ROWS = 50
BAR_COURSES = 15


def _mean(values: Iterable[float | None]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return round(fmean(present), 1) if present else None


def _month_count(rows: list[Record], label: str) -> float | None:
    return next((float(r["count"]) for r in rows if r["month"] == label), None)


def _course_names(*sources: list[Record]) -> dict[int, str]:
    names: dict[int, str] = {}
    for rows in sources:
        for row in rows:
            if row.get("course_shortname"):
                names.setdefault(int(row["courseid"]), str(row["course_shortname"]))
    return names


def _status(progress: list[Record]) -> Chart:
    counts = {"Completed": 0, "In progress": 0, "Not started": 0, "Not tracked": 0}
    for row in progress:
        percent = row["progress_percent"]
        if row["course_completed"]:
            counts["Completed"] += 1
        elif percent is None:
            counts["Not tracked"] += 1
        elif percent > 0:
            counts["In progress"] += 1
        else:
            counts["Not started"] += 1
    return Chart(
        title="Status breakdown",
        chart="pie",
        labels=list(counts),
        series=[Series("Learners in courses", [float(v) for v in counts.values()])],
        description=(
            "Learner-course pairs by completion status: "
            + ", ".join(f"{k.lower()} {v}" for k, v in counts.items())
            + "."
        ),
    )


def _flow_kpis(sources: Sources, periods: Periods) -> tuple[Kpi, Kpi, Kpi, Kpi]:
    """Active users, enrolments, completions and time spent, month against month."""
    current, previous = periods.current, periods.previous
    time_rows = sources.rows(
        "time_spent",
        {
            "from": periods.first_day(previous).isoformat(),
            "to": periods.last_day(current).isoformat(),
        },
    )
    start = periods.first_day(current).isoformat()
    active: dict[bool, set[int]] = {True: set(), False: set()}
    seconds: dict[bool, float] = {True: 0.0, False: 0.0}
    for row in time_rows:
        in_current = str(row["date"]) >= start
        active[in_current].add(int(row["userid"]))
        seconds[in_current] += float(row["duration_seconds"] or 0)
    enrolments = sources.rows("enrolment_trends")
    completions = sources.rows("completion_trends")
    note = periods.note
    return (
        Kpi("Active users", len(active[True]), previous=len(active[False]), note=note),
        Kpi(
            "Enrolments",
            _month_count(enrolments, current.label),
            previous=_month_count(enrolments, previous.label),
            note=note,
        ),
        Kpi(
            "Completions",
            _month_count(completions, current.label),
            previous=_month_count(completions, previous.label),
            note=note,
        ),
        Kpi("Time spent", seconds[True], "seconds", previous=seconds[False], note=note),
    )


def _state_note(periods: Periods) -> str:
    return f"now against the end of {periods.current.label}"


def _at_risk(rows: list[Record]) -> list[Record]:
    """The flagged rows; the report already leaves out the courses a learner completed."""
    return [row for row in rows if row["at_risk"]]


def _at_risk_widgets(sources: Sources, periods: Periods, names: dict[int, str]) -> list[Widget]:
    moment = periods.end_moment(periods.current)
    now = _at_risk(sources.rows(AT_RISK))
    before = _at_risk(sources.rows(AT_RISK, as_of=moment))
    flagged = sorted(
        now,
        key=lambda row: (-float(row["risk_score"] or 0), str(row["username"])),
    )
    rows = [
        [
            row["username"],
            names.get(int(row["courseid"]), str(row["courseid"])),
            row["risk_score"],
            ", ".join(rule for rule in AT_RISK_RULES if row[rule] is True),
        ]
        for row in flagged[:TABLE_ROWS]
    ]
    return [
        Kpi(
            "Learners at risk",
            len({row["userid"] for row in flagged}),
            previous=len({row["userid"] for row in before}),
            note=_state_note(periods),
            better="down",
        ),
        Table(
            "Learners at risk",
            ["Learner", "Course", "Risk score", "Rules that fired"],
            rows,
            [False, False, True, False],
            note=_more(len(flagged)),
        ),
    ]


def _more(count: int) -> str | None:
    if count <= TABLE_ROWS:
        return None
    return f"The first {TABLE_ROWS} of {count} rows; run the report for all of them."


def staff_dashboard(sources: Sources, periods: Periods, *, companies: bool) -> list[Widget]:
    """The admin, manager and teacher layout."""
    active, enrolments, completions, time_spent = _flow_kpis(sources, periods)
    progress = sources.rows("course_progress")
    progress_before = sources.rows("course_progress", as_of=periods.end_moment(periods.current))
    completion = sources.rows("course_completion")
    names = _course_names(completion, progress)
    at_risk_kpi, at_risk_table = _at_risk_widgets(sources, periods, names)
    average = Kpi(
        "Average progress",
        _mean(r["progress_percent"] for r in progress),
        "percent",
        previous=_mean(r["progress_percent"] for r in progress_before),
        note=_state_note(periods),
    )
    widgets: list[Widget] = [
        active,
        enrolments,
        completions,
        average,
        at_risk_kpi,
        time_spent,
        _trends_chart(sources),
        _completion_by_course(completion),
        _status(progress),
        _courses_table(completion, progress),
        at_risk_table,
    ]
    if companies:
        widgets.append(_companies_table(sources.rows("company_overview")))
    return widgets


def _trends_chart(sources: Sources) -> Chart:
    enrolments = sources.rows("enrolment_trends")
    completions = sources.rows("completion_trends")
    labels = [str(r["month"]) for r in enrolments]
    return Chart(
        title="Enrolments and completions, last 12 months",
        chart="line",
        labels=labels,
        series=[
            Series("Enrolments", [float(r["count"]) for r in enrolments]),
            Series("Completions", [float(r["count"]) for r in completions]),
        ],
        description=(
            f"Enrolments and course completions per month from {labels[0]} to {labels[-1]}."
        ),
        width=12,
    )


def _per_course(completion: list[Record]) -> dict[str, list[int]]:
    """Course shortname -> [learners, completed]."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in completion:
        entry = counts[str(row["course_shortname"])]
        entry[0] += 1
        entry[1] += 1 if row["completed"] else 0
    return counts


def _rate(completed: int, learners: int) -> float | None:
    return round(100.0 * completed / learners, 1) if learners else None


def _completion_by_course(completion: list[Record]) -> Chart:
    counts = _per_course(completion)
    busiest = sorted(counts.items(), key=lambda item: (-item[1][0], item[0]))[:BAR_COURSES]
    busiest.sort(key=lambda item: item[0])
    shown = "" if len(counts) <= BAR_COURSES else f" (the {BAR_COURSES} with most learners)"
    return Chart(
        title="Completion by course",
        chart="bar",
        labels=[name for name, _ in busiest],
        series=[Series("Completed (%)", [_rate(c, n) or 0.0 for _, (n, c) in busiest])],
        description=f"Share of tracked learners who completed each course{shown}, in percent.",
        unit="percent",
    )


def _courses_table(completion: list[Record], progress: list[Record]) -> Table:
    counts = _per_course(completion)
    percents: dict[str, list[float | None]] = defaultdict(list)
    for row in progress:
        percents[str(row["course_shortname"])].append(row["progress_percent"])
    names = sorted(set(counts) | set(percents))
    rows = [
        [
            name,
            counts[name][0],
            counts[name][1],
            _rate(counts[name][1], counts[name][0]),
            _mean(percents.get(name, [])),
        ]
        for name in names
    ]
    return Table(
        "Courses",
        ["Course", "Learners", "Completed", "Completion rate (%)", "Average progress (%)"],
        rows[:TABLE_ROWS],
        [False, True, True, True, True],
        note=_more(len(rows)) or (None if rows else "No tracked learners."),
    )


def _companies_table(rows: list[Record]) -> Table:
    return Table(
        "Companies",
        ["Company", "Users", "Enrolments", "Completions", "Completion rate (%)"],
        [
            [r["company"], r["users"], r["enrolments"], r["completions"], r["completion_rate"]]
            for r in rows[:TABLE_ROWS]
        ],
        [False, True, True, True, True],
        note=_more(len(rows)),
    )


def student_dashboard(sources: Sources, periods: Periods) -> list[Widget]:
    """A learner's own courses, progress, time and grades."""
    progress = sources.rows("course_progress")
    before = sources.rows("course_progress", as_of=periods.end_moment(periods.current))
    _active, _enrolments, _completions, time_spent = _flow_kpis(sources, periods)
    grades = sources.rows("quiz_attempts")
    names = _course_names(progress)
    state = _state_note(periods)

    def completed(rows: list[Record]) -> int:
        return sum(1 for r in rows if r["course_completed"])

    ordered = sorted(progress, key=lambda r: str(r["course_shortname"]))
    return [
        Kpi("My courses", len(progress), previous=len(before), note=state),
        Kpi("Courses completed", completed(progress), previous=completed(before), note=state),
        Kpi(
            "Average progress",
            _mean(r["progress_percent"] for r in progress),
            "percent",
            previous=_mean(r["progress_percent"] for r in before),
            note=state,
        ),
        time_spent,
        Chart(
            title="Progress by course",
            chart="bar",
            labels=[str(r["course_shortname"]) for r in ordered],
            series=[Series("Progress (%)", [float(r["progress_percent"] or 0) for r in ordered])],
            description="Course progress in percent, as Moodle shows it, for each course.",
            unit="percent",
        ),
        _status(progress),
        Table(
            "My courses",
            ["Course", "Activities completed", "Activities", "Progress (%)", "Completed"],
            [
                [
                    r["course_shortname"],
                    r["activities_completed"],
                    r["activities_total"],
                    r["progress_percent"],
                    "yes" if r["course_completed"] else "no",
                ]
                for r in ordered
            ],
            [False, True, True, True, False],
            note=None if ordered else "Not enrolled in any course tracked by completion.",
        ),
        _grades_table(grades, names),
    ]


def _grades_table(grades: list[Record], names: dict[int, str]) -> Table:
    rows: list[list[Any]] = [
        [
            r["quiz_name"],
            names.get(int(r["courseid"]), str(r["courseid"])),
            r["best_grade"],
            r["attempts"],
            r["last_attempt_state"],
        ]
        for r in sorted(grades, key=lambda r: (str(r["quiz_name"]), int(r["quizid"])))
    ]
    return Table(
        "My quiz grades",
        ["Quiz", "Course", "Best grade", "Attempts", "Last attempt"],
        rows[:TABLE_ROWS],
        [False, False, True, True, False],
        note=_more(len(rows)) or (None if rows else "No quiz attempts."),
    )
