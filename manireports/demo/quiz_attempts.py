"""Quiz attempts and grades as mod_quiz stores them.

Attempts are numbered from 1 per user; only finished attempts carry sumgrades, and
quiz_grades.grade combines the finished ones by the quiz's grading method (highest, average,
first, last) rescaled to quiz.grade. Moodle 5.0 adds pre-created 'notstarted' attempts and
'submitted' ones still waiting for grading. Teachers leave preview attempts (preview = 1).
"""

from __future__ import annotations

import json
import random

from manireports.demo.courses import Course, Quiz
from manireports.demo.ids import Emit, Ids
from manireports.demo.people import Person, Seat
from manireports.demo.replay import Milestone, Outcome, ability
from manireports.demo.sizes import DAY
from manireports.demo.world import World


class QuizAttempts:
    def __init__(self, world: World, emit: Emit, ids: Ids) -> None:
        self.world = world
        self.emit = emit
        self.ids = ids
        self.by_activity = {quiz.activity.id: quiz for quiz in world.catalogue.quizzes}
        self.uniqueid = 0  # question_usages ids: one usage per attempt

    def take(
        self,
        rng: random.Random,
        person: Person,
        seat: Seat,
        quiz: Quiz,
        when: int,
        outcome: Outcome,
        out: list[Milestone],
    ) -> tuple[int, int]:
        """Attempts until passed or out of tries; returns (time done, completion state or -1)."""
        unfinished = ["inprogress", "abandoned"] + (["overdue"] if quiz.timelimit else [])
        if self.world.release.quiz_states_50:
            unfinished.append("submitted")
        skill = ability(person)
        limit = quiz.attempts or rng.choice((1, 2, 3, 4))
        finished: list[tuple[int, float, int]] = []  # (attempt, sumgrades, timefinish)
        course = quiz.activity.course
        time = when + rng.randint(30, 300)
        number = 0
        for number in range(1, limit + 1):
            if time >= seat.stop:
                number -= 1
                break
            duration = rng.randint(240, quiz.timelimit or 2400)
            fraction = min(1.0, max(0.0, rng.gauss(skill + 0.08 * (number - 1), 0.15)))
            sumgrades = round(round(fraction * quiz.sumgrades * 2) / 2, 5)
            end = time + duration
            state = "finished"
            if end >= seat.stop:
                state = "inprogress"
            elif rng.random() < 0.08:
                state = rng.choice(unfinished)
            attempt_id = self.row(person.id, quiz, number, state, time, end, sumgrades, 0)
            outcome.attempted.add(quiz.activity.id)
            out.append(
                (
                    time,
                    "quiz_started",
                    course,
                    quiz.activity.id,
                    attempt_id,
                    person.id,
                    json.dumps({"quizid": quiz.id}),
                )
            )
            if state in ("finished", "submitted"):
                out.append(
                    (
                        end,
                        "quiz_submitted",
                        course,
                        quiz.activity.id,
                        attempt_id,
                        person.id,
                        json.dumps({"quizid": quiz.id, "submitterid": person.id}),
                    )
                )
            if state != "finished":
                time = end
                break
            finished.append((number, sumgrades, end))
            out.append(
                (
                    end + 20,
                    "quiz_reviewed",
                    course,
                    quiz.activity.id,
                    attempt_id,
                    person.id,
                    json.dumps({"quizid": quiz.id}),
                )
            )
            grade = quiz_grade(quiz, [s for _, s, _ in finished])
            if not quiz.activity.gradepass or grade >= quiz.activity.gradepass:
                time = end
                break
            time = end + (
                rng.randint(300, 3000) if rng.random() < 0.6 else rng.randint(DAY, 5 * DAY)
            )
        if not finished:
            return time, -1
        grade = quiz_grade(quiz, [s for _, s, _ in finished])
        last = finished[-1][2]
        self.emit(
            "quiz_grades",
            {
                "id": self.ids.next("quiz_grades"),
                "quiz": quiz.id,
                "userid": person.id,
                "grade": grade,
                "timemodified": last,
            },
        )
        if not seat.removed_at:
            outcome.grades[quiz.activity.id] = (grade, last)
        if quiz.activity.gradepass:
            return time, 2 if grade >= quiz.activity.gradepass else 3
        return time, 1

    def row(
        self,
        user: int,
        quiz: Quiz,
        number: int,
        state: str,
        start: int,
        end: int,
        sumgrades: float,
        preview: int,
    ) -> int:
        attempt_id = self.ids.next("quiz_attempts")
        self.uniqueid += 1
        layout = ",".join(f"{slot},0" for slot in range(1, len(quiz.marks) + 1))
        closed = state in ("finished", "submitted")
        self.emit(
            "quiz_attempts",
            {
                "id": attempt_id,
                "quiz": quiz.id,
                "userid": user,
                "attempt": number,
                "uniqueid": self.uniqueid,
                "layout": layout,
                "currentpage": 0,
                "preview": preview,
                "state": state,
                "timestart": 0 if state == "notstarted" else start,
                "timefinish": end if closed else 0,
                "timemodified": end if closed or state == "abandoned" else start,
                "timemodifiedoffline": 0,
                "timecheckstate": start + quiz.timelimit
                if state == "inprogress" and quiz.timelimit
                else None,
                "sumgrades": sumgrades if state == "finished" else None,
            },
        )
        return attempt_id

    def precreate(
        self, rng: random.Random, person: Person, seat: Seat, course: Course, outcome: Outcome
    ) -> None:
        """Moodle 5.0 pre-creates attempts ('notstarted') for quizzes that ask for it."""
        for activity in course.activities:
            quiz = self.by_activity.get(activity.id)
            if quiz is None or not quiz.precreate or activity.id in outcome.states:
                continue
            if activity.id in outcome.attempted or seat.removed_at or rng.random() < 0.5:
                continue
            self.row(person.id, quiz, 1, "notstarted", seat.start, seat.start, 0.0, 0)

    def preview(self, teacher: int, quiz: Quiz, start: int) -> Milestone:
        """A teacher trying the quiz out; previews are stored but never graded."""
        attempt = self.row(teacher, quiz, 1, "finished", start, start + 300, quiz.sumgrades, 1)
        activity = quiz.activity
        other = json.dumps({"quizid": quiz.id})
        return (start, "quiz_preview", activity.course, activity.id, attempt, teacher, other)


def quiz_grade(quiz: Quiz, sumgrades: list[float]) -> float:
    """quiz_grades.grade: finished attempts combined by grademethod, rescaled to quiz.grade."""
    if quiz.grademethod == 2:
        raw = sum(sumgrades) / len(sumgrades)
    elif quiz.grademethod == 3:
        raw = sumgrades[0]
    elif quiz.grademethod == 4:
        raw = sumgrades[-1]
    else:
        raw = max(sumgrades)
    return round(raw / quiz.sumgrades * quiz.grade, 5) if quiz.sumgrades else 0.0
