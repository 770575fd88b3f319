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

import heapq
from array import array
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any, ClassVar, Literal

from manireports.analytics import AT_RISK_COLUMNS
from manireports.analytics.activity import log_counts
from manireports.analytics.inputs import read_ahead
from manireports.dashboard.model import Chart, Kpi, Series, Table, Widget
from manireports.dashboard.periods import Periods
from manireports.dashboard.sources import Ask, Sources, Together
from manireports.reports.collect import Record

Role = Literal["admin", "manager", "teacher", "student"]
ROLES: tuple[Role, ...] = ("admin", "manager", "teacher", "student")

AT_RISK = "at_risk"
# The at_risk report's rule columns, in its order: true where the rule fired.
AT_RISK_RULES = tuple(
    column.name for column in AT_RISK_COLUMNS if column.kind == "bool" and column.name != "at_risk"
)
TABLE_ROWS = 50
TRENDS = ("enrolment_trends", "completion_trends")
BAR_COURSES = 15


class Mean:
    """The values one mean combines, kept as machine floats (8 bytes each, not their rows), so
    `fmean` gives the figure to the last digit whatever the order they came in."""

    def __init__(self) -> None:
        self.values = array("d")

    def add(self, value: Any) -> None:
        if value is not None:
            self.values.append(float(value))

    def result(self) -> float | None:
        return round(fmean(self.values), 1) if self.values else None


def _mean(values: Iterable[float | None]) -> float | None:
    mean = Mean()
    for value in values:
        mean.add(value)
    return mean.result()


def _month_count(rows: list[Record], label: str) -> float | None:
    return next((float(r["count"]) for r in rows if r["month"] == label), None)


@dataclass
class Progress:
    """What the panels take from course_progress: the mean, the status counts, each course's
    percentages, learners and completions, and the course names.

    course_progress lists exactly the learner-course pairs of course_completion (with no date
    window) and its course_completed is the same Moodle completion, so the completion panels
    read it too: one query fewer per dashboard, and the courses table cannot disagree with the
    status breakdown.
    """

    average: Mean = field(default_factory=Mean)
    statuses: dict[str, int] = field(
        default_factory=lambda: {
            "Completed": 0,
            "In progress": 0,
            "Not started": 0,
            "Not tracked": 0,
        }
    )
    per_course: dict[str, Mean] = field(default_factory=lambda: defaultdict(Mean))
    # course shortname -> [learners, completed]
    counts: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    names: dict[int, str] = field(default_factory=dict)

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "courseid",
        "course_shortname",
        "progress_percent",
        "course_completed",
    )

    @classmethod
    def of(cls, rows: Iterator[Record]) -> Progress:
        figures = cls()
        for row in rows:
            figures.add(row)
        return figures

    def add(self, row: Record) -> None:
        percent = row["progress_percent"]
        shortname = str(row["course_shortname"])
        self.average.add(percent)
        self.per_course[shortname].add(percent)
        counts = self.counts[shortname]
        counts[0] += 1
        if row.get("course_shortname"):
            self.names.setdefault(int(row["courseid"]), str(row["course_shortname"]))
        if row["course_completed"]:
            counts[1] += 1
            self.statuses["Completed"] += 1
        elif percent is None:
            self.statuses["Not tracked"] += 1
        elif percent > 0:
            self.statuses["In progress"] += 1
        else:
            self.statuses["Not started"] += 1


def _average(rows: Iterator[Record]) -> float | None:
    return _mean(row["progress_percent"] for row in rows)


def _status(counts: dict[str, int]) -> Chart:
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


@dataclass
class TimeSpent:
    """What the flow cards take from time_spent over the last two full months: who was active
    and the seconds, for each month. The report sums the months itself (`per=month`): a user
    active in a month has a row in it, so the figures are those of the daily rows, from a third
    as many."""

    start: str
    active: dict[bool, set[int]] = field(default_factory=lambda: {True: set(), False: set()})
    seconds: dict[bool, float] = field(default_factory=lambda: {True: 0.0, False: 0.0})

    def of(self, rows: Iterator[Record]) -> TimeSpent:
        for row in rows:
            in_current = str(row["date"]) >= self.start
            self.active[in_current].add(int(row["userid"]))
            self.seconds[in_current] += float(row["duration_seconds"] or 0)
        return self


def _time_spent(periods: Periods) -> Ask[TimeSpent]:
    figures = TimeSpent(periods.first_day(periods.current).isoformat())
    window = {
        "from": periods.first_day(periods.previous).isoformat(),
        "to": periods.last_day(periods.current).isoformat(),
        "per": "month",
    }
    return Ask("time_spent", figures.of, window, columns=("userid", "date", "duration_seconds"))


def _flow_kpis(sources: Sources, periods: Periods, time: TimeSpent) -> tuple[Kpi, Kpi, Kpi, Kpi]:
    """Active users, enrolments, completions and time spent, month against month."""
    current, previous = periods.current, periods.previous
    enrolments = sources.rows("enrolment_trends")
    completions = sources.rows("completion_trends")
    note = periods.note
    return (
        Kpi("Active users", len(time.active[True]), previous=len(time.active[False]), note=note),
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
        Kpi("Time spent", time.seconds[True], "seconds", previous=time.seconds[False], note=note),
    )


def _state_note(periods: Periods) -> str:
    return f"now against the end of {periods.current.label}"


@dataclass
class AtRisk:
    """The flagged rows of at_risk (the report already leaves out the courses a learner
    completed): how many, which learners, and the first rows of the table, riskiest first."""

    count: int = 0
    learners: set[Any] = field(default_factory=set)
    first: list[Record] = field(default_factory=list)

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "userid",
        "username",
        "courseid",
        "risk_score",
        "at_risk",
        *AT_RISK_RULES,
    )

    @classmethod
    def of(cls, rows: Iterator[Record]) -> AtRisk:
        figures = cls()

        def flagged() -> Iterator[Record]:
            for row in rows:
                if row["at_risk"]:
                    figures.count += 1
                    figures.learners.add(row["userid"])
                    yield row

        # nsmallest is sorted(...)[:n], ties kept in the report's order, holding n rows.
        figures.first = heapq.nsmallest(
            TABLE_ROWS,
            flagged(),
            key=lambda row: (-float(row["risk_score"] or 0), str(row["username"])),
        )
        return figures


def _at_risk_widgets(
    periods: Periods, now: AtRisk, before: AtRisk, names: dict[int, str]
) -> list[Widget]:
    rows = [
        [
            row["username"],
            names.get(int(row["courseid"]), str(row["courseid"])),
            row["risk_score"],
            ", ".join(rule for rule in AT_RISK_RULES if row[rule] is True),
        ]
        for row in now.first
    ]
    return [
        Kpi(
            "Learners at risk",
            len(now.learners),
            previous=len(before.learners),
            note=_state_note(periods),
            better="down",
        ),
        Table(
            "Learners at risk",
            ["Learner", "Course", "Risk score", "Rules that fired"],
            rows,
            [False, False, True, False],
            note=_more(now.count),
        ),
    ]


def _more(count: int) -> str | None:
    if count <= TABLE_ROWS:
        return None
    return f"The first {TABLE_ROWS} of {count} rows; run the report for all of them."


@dataclass
class FirstRows:
    """The first rows of a report for a table, and how many it had."""

    count: int = 0
    first: list[Record] = field(default_factory=list)

    @classmethod
    def of(cls, rows: Iterator[Record]) -> FirstRows:
        figures = cls()
        for row in rows:
            if figures.count < TABLE_ROWS:
                figures.first.append(row)
            figures.count += 1
        return figures


def staff_dashboard(sources: Sources, periods: Periods, *, companies: bool) -> list[Widget]:
    """The admin, manager and teacher layout."""
    end_of_month = periods.end_moment(periods.current)
    # The course progress of each moment, then the at-risk run of the same moment, which for a
    # viewer of the whole site takes the learners course progress just read (Together). The two
    # moments run side by side, the shorter reports after them.
    if companies and sources.moment is not None:
        # Both at-risk runs count the log of their window; one scan, started now and read while
        # the course progress runs query, counts both (a viewer of one company or the whole site
        # reads most courses; a teacher's few courses are cheaper read on their own).
        read_ahead(sources.app, (sources.moment, periods.current.end - 1))
    asks: list[Ask[Any] | Together] = [
        Together(
            (
                Ask("course_progress", Progress.of, columns=Progress.COLUMNS),
                Ask(AT_RISK, AtRisk.of, columns=AtRisk.COLUMNS, where="at_risk"),
            )
        ),
        Together(
            (
                Ask("course_progress", _average, as_of=end_of_month, columns=("progress_percent",)),
                Ask(
                    AT_RISK, AtRisk.of, as_of=end_of_month, columns=AtRisk.COLUMNS, where="at_risk"
                ),
            )
        ),
        _time_spent(periods),
    ]
    if companies:
        asks.append(Ask("company_overview", FirstRows.of))
    # The trends (twelve rows each) are read alongside too, in the time the longer runs leave.
    asks.extend(Ask(report, list) for report in TRENDS)
    try:
        progress, risk_now, before, risk_before, time, *rest = sources.fold_all(asks)
    finally:
        log_counts(sources.app).settle()
    *company, enrolments, completions = rest
    for report, records in zip(TRENDS, (enrolments, completions), strict=True):
        sources.keep(report, records)
    active, enrolments, completions, time_spent = _flow_kpis(sources, periods, time)
    at_risk_kpi, at_risk_table = _at_risk_widgets(periods, risk_now, risk_before, progress.names)
    average = Kpi(
        "Average progress",
        progress.average.result(),
        "percent",
        previous=before,
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
        _completion_by_course(progress.counts),
        _status(progress.statuses),
        _courses_table(progress.counts, progress.per_course),
        at_risk_table,
    ]
    if company:
        widgets.append(_companies_table(company[0]))
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


def _rate(completed: int, learners: int) -> float | None:
    return round(100.0 * completed / learners, 1) if learners else None


def _completion_by_course(counts: dict[str, list[int]]) -> Chart:
    """`counts`: course shortname -> [learners, completed]."""
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


def _courses_table(counts: dict[str, list[int]], percents: dict[str, Mean]) -> Table:
    names = sorted(set(counts) | set(percents))
    rows: list[list[Any]] = []
    for name in names:
        learners, completed = counts.get(name, (0, 0))
        mean = percents.get(name)
        rows.append(
            [
                name,
                learners,
                completed,
                _rate(completed, learners),
                None if mean is None else mean.result(),
            ]
        )
    return Table(
        "Courses",
        ["Course", "Learners", "Completed", "Completion rate (%)", "Average progress (%)"],
        rows[:TABLE_ROWS],
        [False, True, True, True, True],
        note=_more(len(rows)) or (None if rows else "No tracked learners."),
    )


def _companies_table(companies: FirstRows) -> Table:
    return Table(
        "Companies",
        ["Company", "Users", "Enrolments", "Completions", "Completion rate (%)"],
        [
            [r["company"], r["users"], r["enrolments"], r["completions"], r["completion_rate"]]
            for r in companies.first
        ],
        [False, True, True, True, True],
        note=_more(companies.count),
    )


def student_dashboard(sources: Sources, periods: Periods) -> list[Widget]:
    """A learner's own courses, progress, time and grades."""
    progress = sources.rows("course_progress")
    before = sources.rows("course_progress", as_of=periods.end_moment(periods.current))
    time = _time_spent(periods)
    _active, _enrolments, _completions, time_spent = _flow_kpis(
        sources, periods, sources.fold(time.report, time.figures, time.params, columns=time.columns)
    )
    grades = sources.rows("quiz_attempts")
    figures = Progress.of(iter(progress))
    names = figures.names
    state = _state_note(periods)

    def completed(rows: list[Record]) -> int:
        return sum(1 for r in rows if r["course_completed"])

    ordered = sorted(progress, key=lambda r: str(r["course_shortname"]))
    return [
        Kpi("My courses", len(progress), previous=len(before), note=state),
        Kpi("Courses completed", completed(progress), previous=completed(before), note=state),
        Kpi(
            "Average progress",
            figures.average.result(),
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
        _status(figures.statuses),
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
