"""Course-level results: completion, the gradebook, and IOMAD's completion history.

A course counts as completed when its activity criteria are met (all or any, as the course is
set), at the time the last (or first) of them was met, shortly after when cron does it; a few
rows still wait for cron (reaggregate). Rows are created lazily, so many learners have none.
"""

from __future__ import annotations

import random

from manireports.demo.courses import Course
from manireports.demo.ids import Emit, Ids
from manireports.demo.people import Person, Seat
from manireports.demo.replay import COMPLETE_STATES, Milestone, Outcome
from manireports.demo.sizes import DAY
from manireports.demo.world import World


class CourseResults:
    def __init__(self, world: World, emit: Emit, ids: Ids) -> None:
        self.world = world
        self.clock = world.clock
        self.emit = emit
        self.ids = ids

    def completion(
        self,
        rng: random.Random,
        person: Person,
        seat: Seat,
        course: Course,
        outcome: Outcome,
        out: list[Milestone],
    ) -> None:
        if seat.start >= self.clock.now or (not outcome.states and rng.random() < 0.3):
            return  # completion rows are created lazily; many learners never get one
        met = []
        for activity in course.criteria:
            state, when = outcome.states.get(activity.id, (0, 0))
            if state in COMPLETE_STATES:
                met.append((when, activity))
        completed: int | None = None
        if course.criteria and met:
            done = len(met) == len(course.criteria) if course.aggregation == 1 else True
            if done:
                times = [when for when, _ in met]
                completed = max(times) if course.aggregation == 1 else min(times)
        reaggregate = 0
        if completed is not None and rng.random() < 0.03:
            reaggregate, completed = completed, None  # cron has not caught up yet
        by_cron = completed is not None and rng.random() < 0.4
        if completed is not None:
            completed += rng.randint(300, 3600) if by_cron else rng.randint(1, 5)
            if completed >= self.clock.now:
                completed = None
        for when, activity in met:
            self.emit(
                "course_completion_crit_compl",
                {
                    "id": self.ids.next("course_completion_crit_compl"),
                    "userid": person.id,
                    "course": course.id,
                    "criteriaid": course.criteria_ids[activity.id],
                    "gradefinal": None,
                    "unenroled": None,
                    "timecompleted": when,
                },
            )
        completion_id = self.ids.next("course_completions")
        self.emit(
            "course_completions",
            {
                "id": completion_id,
                "userid": person.id,
                "course": course.id,
                "timeenrolled": min(seat.start, self.clock.now),
                "timestarted": outcome.first,
                "timecompleted": completed,
                "reaggregate": reaggregate,
            },
        )
        if completed is not None:
            code = "course_completed_cron" if by_cron else "course_completed"
            out.append((completed, code, course.id, 0, completion_id, person.id, None))
        outcome.completed = completed

    def total(self, rng: random.Random, person: Person, course: Course, outcome: Outcome) -> None:
        items = {a.id: a for a in course.activities if a.grade_item}
        percentages = []
        for cm, (grade, when) in sorted(outcome.grades.items()):
            activity = items[cm]
            self._grade(activity.grade_item or 0, person.id, grade, activity.grademax, when)
            percentages.append(grade / activity.grademax if activity.grademax else 0.0)
        if not percentages:
            return
        total = round(100 * sum(percentages) / len(percentages), 5)
        when = max(when for _, when in outcome.grades.values())
        final = total
        overridden = 0
        if rng.random() < 0.03:
            final, overridden = float(rng.choice((50, 75, 100))), when + DAY
        self._grade(course.course_item, person.id, total, 100.0, when, final, overridden)
        outcome.total = final

    def track(
        self, rng: random.Random, person: Person, seat: Seat, course: Course, outcome: Outcome
    ) -> None:
        """IOMAD's completion record: the current row, and an archived one on recertification."""
        company = self.world.company_for(person, course.id)
        if company is None or seat.start >= self.clock.now:
            return
        row = {
            "courseid": course.id,
            "coursename": course.fullname,
            "userid": person.id,
            "companyid": company.id,
            "licenseid": 0,
            "licensename": None,
            "licenseallocated": None,
            "timeexpires": None,
        }
        earlier = seat.start - 400 * DAY
        if outcome.completed and rng.random() < 0.08 and earlier > person.timecreated:
            self.emit(
                self.world.names.track,
                row
                | {
                    "id": self.ids.next("local_iomad_track"),
                    "timeenrolled": earlier,
                    "timestarted": earlier + DAY,
                    "timecompleted": earlier + 20 * DAY,
                    "finalscore": 100.0,
                    "coursecleared": 1,
                    "modifiedtime": seat.start,
                },
            )
        self.emit(
            self.world.names.track,
            row
            | {
                "id": self.ids.next("local_iomad_track"),
                "timeenrolled": seat.start,
                "timestarted": outcome.first or None,
                "timecompleted": outcome.completed,
                "finalscore": outcome.total or 0.0,
                "coursecleared": 1 if seat.removed_at else 0,
                "modifiedtime": max(seat.start, outcome.completed or outcome.first),
            },
        )

    def _grade(
        self,
        item: int,
        user: int,
        raw: float,
        grademax: float,
        when: int,
        final: float | None = None,
        overridden: int = 0,
    ) -> None:
        self.emit(
            "grade_grades",
            {
                "id": self.ids.next("grade_grades"),
                "itemid": item,
                "userid": user,
                "rawgrade": raw,
                "rawgrademax": grademax,
                "rawgrademin": 0,
                "usermodified": user,
                "finalgrade": raw if final is None else final,
                "overridden": overridden,
                "timecreated": when,
                "timemodified": max(when, overridden),
                "aggregationstatus": "used",
                "aggregationweight": None,
            },
        )
