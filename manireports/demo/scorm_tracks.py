"""SCORM attempts and their tracking data, in the table layout of the demo's Moodle release.

Before 4.3 each value is a `scorm_scoes_track` row; from 4.3 the same values live in
`scorm_attempt` + `scorm_scoes_value`, with element names in `scorm_element`. The values follow
what SCORM players send: SCORM 1.2 reports `cmi.core.lesson_status` and times like 0000:12:34.56,
SCORM 2004 splits completion and success status and uses ISO 8601 durations (PT0H12M34S).
"""

from __future__ import annotations

import json
import random

from manireports.demo.courses import Scorm
from manireports.demo.ids import Emit, Ids
from manireports.demo.people import Person, Seat
from manireports.demo.replay import Milestone, Outcome, ability
from manireports.demo.sizes import DAY
from manireports.demo.world import World

ELEMENTS = (
    "x.start.time",
    "cmi.core.lesson_status",
    "cmi.core.score.raw",
    "cmi.core.score.max",
    "cmi.core.score.min",
    "cmi.core.total_time",
    "cmi.core.session_time",
    "cmi.core.exit",
    "cmi.completion_status",
    "cmi.success_status",
    "cmi.score.raw",
    "cmi.score.scaled",
    "cmi.score.max",
    "cmi.total_time",
    "cmi.session_time",
    "cmi.exit",
)
ELEMENT_IDS = {name: index + 1 for index, name in enumerate(ELEMENTS)}
DONE = ("completed", "passed")


def _time_12(seconds: float) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours):04d}:{int(minutes):02d}:{secs:05.2f}"


def _time_2004(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"PT{hours}H{minutes}M{secs}S"


def sco_values(
    rng: random.Random, version: str, ability: float, start: int, seconds: int, finished: bool
) -> tuple[dict[str, str], str, str]:
    """The elements one SCO reports for one attempt; also (status, raw score) for grading."""
    score = min(100, max(0, round(rng.gauss(ability * 100, 15))))
    raw = str(score) if finished else ""
    if finished and rng.random() < 0.06:
        raw = rng.choice(("", "0"))
    values = {"x.start.time": str(start)}
    if version == "SCORM_1.2":
        status = "incomplete"
        if finished:
            status = "completed" if raw == "" else ("passed" if score >= 70 else "failed")
        values["cmi.core.lesson_status"] = status
        if raw or rng.random() < 0.5:
            values |= {
                "cmi.core.score.raw": raw,
                "cmi.core.score.max": "100",
                "cmi.core.score.min": "0",
            }
        values["cmi.core.total_time"] = _time_12(seconds + rng.random())
        values["cmi.core.session_time"] = _time_12(seconds)
        values["cmi.core.exit"] = "" if finished else "suspend"
        return values, status, raw
    completion = "completed" if finished else "incomplete"
    success = "unknown"
    if finished and raw not in ("", "0"):
        success = "passed" if score >= 70 else "failed"
    values["cmi.completion_status"] = completion
    values["cmi.success_status"] = success
    if raw:
        values |= {
            "cmi.score.raw": raw,
            "cmi.score.scaled": f"{int(raw) / 100:g}",
            "cmi.score.max": "100",
        }
    values["cmi.total_time"] = _time_2004(seconds)
    values["cmi.session_time"] = _time_2004(seconds)
    values["cmi.exit"] = "normal" if finished else "suspend"
    return values, success if success in ("passed", "failed") else completion, raw


def attempt_score(grademethod: int, scos: list[tuple[str, str]]) -> float:
    """Moodle's per-attempt grade: count of done SCOs, or highest/average/sum of raw scores."""
    done = sum(1 for status, _ in scos if status in DONE)
    scores = [float(raw) for _, raw in scos if raw not in ("", "0")]
    if grademethod == 0:
        return float(done)
    if not scores:
        return 0.0
    if grademethod == 2:
        return sum(scores) / len(scores)
    if grademethod == 3:
        return sum(scores)
    return max(scores)


def scorm_grade(scorm: Scorm, attempts: list[tuple[float, bool]]) -> float:
    """Attempts combined by whatgrade: best, average, first, or last completed attempt."""
    scores = [score for score, _ in attempts]
    if scorm.whatgrade == 1:
        return sum(scores) / len(scores)
    if scorm.whatgrade == 2:
        return scores[0]
    if scorm.whatgrade == 3:
        completed = [score for score, done in attempts if done]
        return completed[-1] if completed else scores[-1]
    return max(scores)


class ScormTracks:
    def __init__(self, world: World, emit: Emit, ids: Ids) -> None:
        self.world = world
        self.emit = emit
        self.ids = ids
        self.layout = world.release.scorm
        self.started_above_one = False

    def attempts(
        self,
        rng: random.Random,
        person: Person,
        seat: Seat,
        scorm: Scorm,
        when: int,
        outcome: Outcome,
        out: list[Milestone],
    ) -> tuple[int, int]:
        """All of one learner's attempts; returns (time done, completion state or -1)."""
        limit = scorm.maxattempt or 3
        count = min(limit, rng.choices((1, 2, 3), (7, 2, 1))[0])
        first = 1
        if not self.started_above_one and count < limit:
            first, self.started_above_one = 2, True  # attempt 1 was reset by a teacher
        skill = ability(person)
        graded: list[tuple[float, bool]] = []
        time = when
        course = scorm.activity.course
        for number in range(first, first + count):
            if time >= seat.stop:
                break
            seconds = rng.randint(300, 2700)
            finished = time + seconds < seat.stop and rng.random() < 0.85
            attempt_id = self._attempt_row(person.id, scorm, number)
            results = []
            for sco in scorm.scos:
                if time >= seat.stop:
                    break
                out.append(
                    (
                        time,
                        "scorm_launched",
                        course,
                        scorm.activity.id,
                        sco,
                        0,
                        json.dumps({"instanceid": scorm.id, "loadedcontent": True}),
                    )
                )
                complete = finished and time + seconds < seat.stop
                spent = seconds if complete else max(1, min(seconds, seat.stop - time - 1))
                values, status, raw = sco_values(rng, scorm.version, skill, time, spent, complete)
                self._values(person.id, scorm, sco, number, attempt_id, values, time + spent)
                results.append((status, raw))
                if complete:
                    other = json.dumps(
                        {"attemptid": number, "cmielement": "status", "cmivalue": status}
                    )
                    out.append(
                        (time + spent, "scorm_status", course, scorm.activity.id, sco, 0, other)
                    )
                time += spent
            done = any(status in DONE for status, _ in results)
            graded.append((attempt_score(scorm.grademethod, results), done))
            if done:
                break
            time += rng.randint(3600, 3 * DAY)
        if not graded:
            return time, -1
        if not seat.removed_at:
            outcome.grades[scorm.activity.id] = (round(scorm_grade(scorm, graded), 5), time)
        return time, 1 if any(done for _, done in graded) else -1

    def _attempt_row(self, user: int, scorm: Scorm, number: int) -> int:
        if self.layout == "pre43":
            return 0
        attempt_id = self.ids.next("scorm_attempt")
        self.emit(
            "scorm_attempt",
            {"id": attempt_id, "userid": user, "scormid": scorm.id, "attempt": number},
        )
        return attempt_id

    def _values(
        self,
        user: int,
        scorm: Scorm,
        sco: int,
        number: int,
        attempt_id: int,
        values: dict[str, str],
        when: int,
    ) -> None:
        for element, value in values.items():
            if self.layout == "pre43":
                self.emit(
                    "scorm_scoes_track",
                    {
                        "id": self.ids.next("scorm_scoes_track"),
                        "userid": user,
                        "scormid": scorm.id,
                        "scoid": sco,
                        "attempt": number,
                        "element": element,
                        "value": value,
                        "timemodified": when,
                    },
                )
            else:
                self.emit(
                    "scorm_scoes_value",
                    {
                        "id": self.ids.next("scorm_scoes_value"),
                        "scoid": sco,
                        "attemptid": attempt_id,
                        "elementid": ELEMENT_IDS[element],
                        "value": value,
                        "timemodified": when,
                    },
                )
