"""scorm_summary: one row per user and SCORM activity, the way Moodle grades it, on both layouts.

sql/scorm_summary.sql streams the few tracking values the summary needs (status, raw score, total
and session time, start time) user by user; `summarise_scorm_tracks` holds one user's rows at a
time and folds them into one report row per SCORM activity, in (userid, scormid) order.
Python does the folding because SCORM time formats and Moodle's grading rules cannot be written
portably in SQL.

The rules are Moodle's own (mod/scorm/locallib.php: scorm_grade_user, scorm_grade_user_attempt,
scorm_get_tracks, scorm_format_interactions), with the
choices below stated where Moodle leaves room:

* attempts: the number of distinct attempt numbers. On 4.3+ sites, the user's scorm_attempt rows
  (numbering can start above 1; an attempt with no value still counts). Before 4.3, the distinct
  attempts in scorm_scoes_track among the elements read; every attempt has one, because Moodle's
  player writes x.start.time whenever it launches a SCO.
* Which values count: those of every scorm_scoes row of the activity, assets and SCOs alike,
  as Moodle's scorm_grade_user_attempt() loops over them (in sortorder, id order) taking each
  one's tracks: Moodle's player writes 'completed' for an asset when it is opened, and a
  package may store a score on an asset, and Moodle grades both. Values of SCOs no longer in the
  package are outside that loop: they count as attempts and as access (lastaccess), and, as
  Moodle's own queries by activity see them, in finding the last completed attempt and the
  attempts that report a score (below), but not towards completed, totaltime or an attempt's
  score.
* completed: 1 when, in any attempt, a SCO has cmi.core.lesson_status (SCORM 1.2),
  cmi.completion_status or cmi.success_status (SCORM 2004) equal to 'completed' or 'passed': the
  test of Moodle's completion rule "status required: passed or completed" (custom_completion).
* totaltime: the sum over attempts and SCOs of cmi.core.total_time (SCORM 1.2 CMITimespan,
  HHHH:MM:SS.SS) or cmi.total_time (SCORM 2004 ISO 8601 duration, e.g. PT1H2M3.5S, P1DT2H), in
  whole seconds (the exact sum, rounded half up). Either format is accepted in either element; a
  value in neither format (or negative) is ignored. Years and months of an ISO duration are the
  SCORM community's averages (365.25 days, 1/12 of that), weeks 7 days.
* score: what scorm_grade_user() gives the gradebook. Per attempt (scorm_grade_user_attempt), for
  each SCO: its status is cmi.core.lesson_status or cmi.completion_status (success_status plays no
  part here, as in Moodle), its raw score cmi.core.score.raw or cmi.score.raw read as PHP's
  (float) sprintf('%2.2f', value); an empty, zero or non-numeric raw score is ignored. The SCOs and
  assets are combined by scorm.grademethod: 0 learning objects (the number completed or passed),
  1 highest raw score, 2 average of the raw scores, 3 their sum (other values: highest). The
  attempts are combined by scorm.whatgrade, exactly as Moodle loops over them:
    0 highest attempt: the best attempt score among attempts 1 .. the last attempt, capped at
      scorm.maxattempt when that is set; 0 when none scores;
    1 average: the sum of the attempt scores of attempts 1 .. the last attempt, divided by the
      number of attempts that report a score element (cmi.score.raw for SCORM 2004; for 1.2,
      cmi.core.lesson_status when grading learning objects, else cmi.core.score.raw: MDL-43222),
      rounded to a whole number as PHP's round() does; 0 when no attempt reports it;
    2 first attempt: the score of the lowest-numbered attempt;
    3 last completed attempt: the score of the highest attempt in which a SCO has
      cmi.core.lesson_status, cmi.completion_status or cmi.success_status 'completed' or
      'passed', and, as in Moodle, of attempt 1 when there is none (so 0 when the numbering
      starts above 1). Moodle's query (scorm_get_last_completed_attempt) matches that value in
      any element; an attempt whose only 'passed' is, say, an objective's status
      (cmi.objectives.n.status) is not seen here, as only the elements above are read.
  The score is the raw grade Moodle hands to the gradebook, rounded to the gradebook's 5
  decimals; the gradebook may still clamp it to the activity's maximum grade.
* lastaccess: the latest timemodified of the values read (the session and total time are
  rewritten at each commit, so this is the last time the learner's SCO saved its state).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from manireports.errors import RunError
from manireports.reports.catalogue import CATALOGUE
from manireports.reports.spec import BuiltinReport, ReportContext, Row
from manireports.reports.steps.company import refuse_company_filter_without_iomad

# Moodle's constants (mod/scorm/locallib.php).
GRADESCOES, GRADEHIGHEST, GRADEAVERAGE, GRADESUM = 0, 1, 2, 3
HIGHESTATTEMPT, AVERAGEATTEMPT, FIRSTATTEMPT, LASTATTEMPT = 0, 1, 2, 3

STATUS_ELEMENTS = frozenset({"cmi.core.lesson_status", "cmi.completion_status"})
SUCCESS_ELEMENT = "cmi.success_status"
SCORE_ELEMENTS = frozenset({"cmi.core.score.raw", "cmi.score.raw"})
TIME_ELEMENTS = frozenset({"cmi.core.total_time", "cmi.total_time"})
DONE = frozenset({"completed", "passed"})

# Columns of the SQL rows (sql/scorm_summary.sql).
(
    _SCORMID, _NAME, _COURSEID, _USERID, _USERNAME, _VERSION, _GRADEMETHOD, _WHATGRADE,
    _MAXATTEMPT, _ATTEMPT, _SCOID, _SCORMTYPE, _SORTORDER, _ELEMENT, _VALUE, _TIMEMODIFIED,
) = range(16)  # fmt: skip
_SQL_WIDTH = 16

# SCORM 1.2 CMITimespan, HHHH:MM:SS.SS (hours of 2 to 4 digits; read leniently).
_TIMESPAN = re.compile(r"(\d+):(\d+):(\d+(?:[.,]\d*)?)")
# ISO 8601 duration as SCORM 2004 writes it: P[nY][nM][nW][nD][T[nH][nM][n[.n]S]].
_NUMBER = r"(\d+(?:[.,]\d*)?|[.,]\d+)"
_DURATION = re.compile(
    rf"P(?:{_NUMBER}Y)?(?:{_NUMBER}M)?(?:{_NUMBER}W)?(?:{_NUMBER}D)?"
    rf"(?:T(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?"
)
_DAY = 86_400.0
_YEAR = 365.25 * _DAY
_DURATION_UNITS = (_YEAR, _YEAR / 12, 7 * _DAY, _DAY, 3600.0, 60.0, 1.0)
# The numeric prefix PHP reads from a string when it converts it to a number.
_PHP_NUMBER = re.compile(r"[ \t\n\r\v\f]*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def parse_scorm_duration(text: str | None) -> float | None:
    """Seconds in a SCORM time value, either format; None when it is neither.

    `00:12:30.5` (SCORM 1.2) and `PT12M30.5S` (SCORM 2004) are both 750.5 seconds.
    """
    if text is None:
        return None
    value = text.strip().upper()
    match = _TIMESPAN.fullmatch(value)
    if match:
        hours, minutes, seconds = match.groups()
        return int(hours) * 3600 + int(minutes) * 60 + _decimal_number(seconds)
    match = _DURATION.fullmatch(value)
    if match is None or value in ("P", "PT") or value.endswith("T"):
        return None
    return sum(
        _decimal_number(part) * unit
        for part, unit in zip(match.groups(), _DURATION_UNITS, strict=True)
        if part is not None
    )


def _decimal_number(text: str) -> float:
    return float(text.replace(",", "."))


def php_float(text: str | None) -> float:
    """The number PHP reads from a string ("85.5", " 85", "85abc" -> 85; "abc", "" -> 0)."""
    match = _PHP_NUMBER.match(text or "")
    if match is None:
        return 0.0
    try:
        number = float(match.group(0))
    except (ValueError, OverflowError):  # pragma: no cover - the pattern only matches numbers
        return 0.0
    return number if math.isfinite(number) else 0.0


def scorm_raw_score(text: str | None) -> float:
    """A raw score as Moodle reads it: (float) sprintf('%2.2f', value)."""
    return float(f"{php_float(text):.2f}")


def php_round(number: float) -> float:
    """PHP's round() to a whole number: halves go away from zero."""
    return float(Decimal(repr(number)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def is_scorm_2004(version: str | None) -> bool:
    """scorm_version_check($version, SCORM_13)."""
    return (version or "").strip().lower() in ("scorm_13", "scorm_1.3")


@dataclass
class _Activity:
    """One (user, SCORM activity) group: what the report row is computed from."""

    head: Row
    attempts: set[int] = field(default_factory=set)
    # attempt -> scoid -> element -> value, for every SCO or asset with a value read.
    values: dict[int, dict[int, dict[str, str]]] = field(default_factory=dict)
    # The scoids still in the package, in Moodle's grading order (sortorder, id).
    package: list[int] = field(default_factory=list)
    lastaccess: int | None = None

    def graded(self, attempt: int) -> dict[int, dict[str, str]]:
        """One attempt's tracks of the package's rows, in the order Moodle grades them."""
        scos = self.values.get(attempt, {})
        return {scoid: scos[scoid] for scoid in self.package if scoid in scos}


def _collect(rows: Iterable[Row]) -> _Activity:
    rows = iter(rows)
    first = next(rows)
    activity = _Activity(head=first)
    order: dict[int, tuple[int, int]] = {}
    for row in itertools.chain((first,), rows):
        attempt = int(row[_ATTEMPT])
        activity.attempts.add(attempt)
        element = row[_ELEMENT]
        if element is None:  # a 4.3+ attempt without any value read
            continue
        modified = row[_TIMEMODIFIED]
        if modified is not None and (activity.lastaccess is None or modified > activity.lastaccess):
            activity.lastaccess = int(modified)
        scoid = int(row[_SCOID])
        if row[_SCORMTYPE] is not None:  # a row of scorm_scoes: a SCO or an asset
            order[scoid] = (int(row[_SORTORDER] or 0), scoid)
        sco = activity.values.setdefault(attempt, {}).setdefault(scoid, {})
        sco[str(element)] = "" if row[_VALUE] is None else str(row[_VALUE])
    activity.package = sorted(order, key=order.__getitem__)
    return activity


def _sco_status_and_score(elements: Mapping[str, str]) -> tuple[str, float]:
    """scorm_format_interactions(): the SCO's status and raw score (0 when none).

    Moodle reads the values in element order, so when both a 1.2 and a 2004 element are present
    the later name wins, as here.
    """
    status = ""
    raw = 0.0
    for element in sorted(elements):
        if element in STATUS_ELEMENTS:
            status = elements[element]
        elif element in SCORE_ELEMENTS:
            raw = scorm_raw_score(elements[element])
    return status, raw


def attempt_score(scos: Mapping[int, Mapping[str, str]], grademethod: int) -> float:
    """scorm_grade_user_attempt(): one attempt's SCOs and assets combined by the grading method.

    `scos` holds the package rows with tracks in the attempt, in the order Moodle loops over them.
    """
    completed = 0
    scored = 0
    highest = 0.0
    total = 0.0
    for elements in scos.values():
        status, raw = _sco_status_and_score(elements)
        if status in DONE:
            completed += 1
        if raw:  # PHP's !empty(): a zero or missing score is left out
            scored += 1
            total += raw
            highest = max(highest, raw)
    if grademethod == GRADESCOES:
        return float(completed)
    if grademethod == GRADEAVERAGE:
        return total / scored if scored else 0.0
    if grademethod == GRADESUM:
        return total
    return highest  # GRADEHIGHEST, and Moodle's default for any other value


def _attempts_reporting(activity: _Activity, element: str) -> int:
    return sum(
        1
        for scos in activity.values.values()
        if any(element in elements for elements in scos.values())
    )


def _last_completed_attempt(activity: _Activity) -> int:
    """scorm_get_last_completed_attempt(): 1 when no attempt has a completed or passed status."""
    done = [
        attempt
        for attempt, scos in activity.values.items()
        if any(
            value in DONE
            for elements in scos.values()
            for element, value in elements.items()
            if element in STATUS_ELEMENTS or element == SUCCESS_ELEMENT
        )
    ]
    return max(done, default=1)


def user_score(activity: _Activity) -> float | None:
    """scorm_grade_user(): the attempts combined by scorm.whatgrade."""
    head = activity.head
    grademethod = int(head[_GRADEMETHOD])
    whatgrade = int(head[_WHATGRADE])
    maxattempt = int(head[_MAXATTEMPT] or 0)
    last = max(activity.attempts, default=1)
    first = min(activity.attempts, default=1)

    def score(attempt: int) -> float:
        return attempt_score(activity.graded(attempt), grademethod)

    if whatgrade == FIRSTATTEMPT:
        return score(first)
    if whatgrade == LASTATTEMPT:
        return score(_last_completed_attempt(activity))
    if whatgrade == HIGHESTATTEMPT:
        cap = maxattempt if maxattempt != 0 and last >= maxattempt else last
        # Moodle starts from 0 and keeps an attempt only when it scores more.
        return max([0.0, *(score(n) for n in activity.attempts if 1 <= n <= cap)])
    if whatgrade == AVERAGEATTEMPT:
        if is_scorm_2004(head[_VERSION]):
            element = "cmi.score.raw"
        elif grademethod == GRADESCOES:
            element = "cmi.core.lesson_status"
        else:
            element = "cmi.core.score.raw"
        reporting = _attempts_reporting(activity, element)
        if not reporting:
            return 0.0
        total = sum(score(n) for n in activity.attempts if n >= 1)
        return php_round(total / reporting)
    return None  # an unknown whatgrade: Moodle's switch returns nothing


def _total_time(activity: _Activity) -> int:
    seconds = 0.0
    for attempt in activity.values:
        for elements in activity.graded(attempt).values():
            value = None
            for element in sorted(elements):
                if element in TIME_ELEMENTS:
                    value = elements[element]
            parsed = parse_scorm_duration(value)
            if parsed is not None:
                seconds += parsed
    return math.floor(seconds + 0.5)


def _completed(activity: _Activity) -> bool:
    return any(
        value in DONE
        for attempt in activity.values
        for elements in activity.graded(attempt).values()
        for element, value in elements.items()
        if element in STATUS_ELEMENTS or element == SUCCESS_ELEMENT
    )


def summarise_activity(rows: Iterable[Row]) -> Row:
    """One report row from the SQL rows of one (user, SCORM activity)."""
    activity = _collect(rows)
    head = activity.head
    score = user_score(activity)
    return (
        head[_SCORMID],
        head[_NAME],
        head[_COURSEID],
        head[_USERID],
        head[_USERNAME],
        len(activity.attempts),
        1 if _completed(activity) else 0,
        _total_time(activity),
        None if score is None else round(score, 5),
        activity.lastaccess,
    )


def summarise_scorm_tracks(rows: Iterator[Row], context: ReportContext) -> Iterator[Row]:
    """The report's transform: the SQL rows come user by user; one report row per activity.

    One user's rows are held at a time (a few per attempt and SCO) and split by activity here,
    so the database only has to keep each user's rows together, which the pre-4.3 track index
    does without sorting.
    """
    del context  # the rules depend on nothing but the data
    for _userid, user_rows in itertools.groupby(rows, key=_user_of):
        activities: dict[Any, list[Row]] = {}
        for row in user_rows:
            activities.setdefault(row[_SCORMID], []).append(row)
        for scormid in sorted(activities):
            yield summarise_activity(activities[scormid])


def _user_of(row: Row) -> Any:
    if len(row) != _SQL_WIDTH:
        raise RunError(
            f"The SQL of scorm_summary returns {len(row)} columns, not {_SQL_WIDTH}; "
            "the installation is damaged."
        )
    return row[_USERID]


def _bind_scorm_summary(context: ReportContext) -> dict[str, Any]:
    refuse_company_filter_without_iomad(context)
    return {}


SCORM_SUMMARY = BuiltinReport.of(
    CATALOGUE["scorm_summary"],
    bind=_bind_scorm_summary,
    transform=summarise_scorm_tracks,
    scope_columns={"userid": "u.id", "courseid": "s.course"},
)
