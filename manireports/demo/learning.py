"""What each learner did: activity completion, quiz and SCORM attempts, grades, course completion.

Every learner is replayed from a random stream of their own (seeded by the demo seed and their
id), so the result does not depend on how many people came before them. The replay writes the
learning tables directly and leaves behind the timed "milestones" (viewed, attempted, completed,
...) that the log pass turns into standard-log events; the stored times and the log agree.
"""

from __future__ import annotations

import bisect
import json
import random
from dataclasses import dataclass, field

from manireports.demo.courses import Activity, Course, Quiz
from manireports.demo.ids import Emit, Ids, random_stream
from manireports.demo.people import Person, Seat
from manireports.demo.scorm_tracks import ScormTracks
from manireports.demo.sizes import DAY, Clock
from manireports.demo.world import World

# A milestone is (time, event code, course, course module, object id, related user, other).
Milestone = tuple[int, str, int, int, int, int, str | None]
# A session is (start, user, kind, seed, milestones, courses to browse).
Session = tuple[int, int, str, int, list[Milestone], tuple[int, ...]]

SESSION_GAP = 45 * 60
COMPLETE_STATES = (1, 2)


@dataclass
class Outcome:
    """One learner's results in one course, collected while replaying it."""

    states: dict[int, tuple[int, int]] = field(default_factory=dict)  # cm -> (state, time)
    grades: dict[int, tuple[float, int]] = field(default_factory=dict)  # cm -> (grade, time)
    attempted: set[int] = field(default_factory=set)
    first: int = 0
    completed: int | None = None
    total: float | None = None


class LearningPass:
    def __init__(self, world: World, emit: Emit, seed: int) -> None:
        self.world = world
        self.emit = emit
        self.seed = seed
        self.clock: Clock = world.clock
        self.ids = Ids()
        self.sessions: list[Session] = []
        self.slots: dict[tuple[int, int], list[Milestone]] = {}
        # Activity before the log's window leaves no events, but Moodle still remembers it.
        self.offline: dict[int, tuple[int, int]] = {}
        self.offline_courses: dict[tuple[int, int], int] = {}
        self.scorm = ScormTracks(world, emit, self.ids)
        self.quizzes = {quiz.activity.id: quiz for quiz in world.catalogue.quizzes}
        self.scorms = {scorm.activity.id: scorm for scorm in world.catalogue.scorms}
        self.uniqueid = 0
        self.assign_submission = 0
        self.forum_post = 0
        self.feedback_response = 0

    # -- driver ------------------------------------------------------------------------------------

    def run(self) -> None:
        for person in self.world.community.people:
            rng = random_stream(f"{self.seed}:learner:{person.id}")
            milestones: list[Milestone] = []
            for seat in self.world.community.seats.get(person.id, []):
                milestones.extend(self.replay(rng, person, seat))
            self.sessions_for(rng, person, milestones)
            if person.kind == "teacher":
                self.teaching(rng, person)
        for (user, _), found in sorted(self.slots.items()):
            items = sorted(m for m in found if m[0] >= self.clock.history_start + 600)
            if not items:
                continue
            start = items[0][0] - 120
            self.sessions.append((start, user, "web", hash_seed(self.seed, user, start), items, ()))

    def sessions_for(self, rng: random.Random, person: Person, milestones: list[Milestone]) -> None:
        """Group the learner's timed actions into sessions, and add browsing-only sessions."""
        start_of_log = self.clock.history_start
        early = [m for m in milestones if m[0] < start_of_log + 600]
        if early:
            times = [m[0] for m in early]
            self.offline[person.id] = (min(times), max(times))
            for milestone in early:
                key = (person.id, milestone[2])
                self.offline_courses[key] = max(self.offline_courses.get(key, 0), milestone[0])
        milestones = sorted(m for m in milestones if m[0] >= start_of_log + 600)
        mobile = rng.random() < 0.15
        busy: list[int] = []
        group: list[Milestone] = []
        for milestone in milestones:
            if group and milestone[0] - group[-1][0] > SESSION_GAP:
                self._session(rng, person, group, mobile)
                busy.append(group[0][0])
                group = []
            group.append(milestone)
        if group:
            self._session(rng, person, group, mobile)
            busy.append(group[0][0])
        self._browsing(rng, person, sorted(busy), mobile)

    def _session(
        self, rng: random.Random, person: Person, group: list[Milestone], mobile: bool
    ) -> None:
        kind = "ws" if mobile and rng.random() < 0.4 else "web"
        start = group[0][0] - rng.randint(60, 600)
        courses = tuple(dict.fromkeys(m[2] for m in group))
        self.sessions.append((start, person.id, kind, rng.getrandbits(32), group, courses))

    def _browsing(self, rng: random.Random, person: Person, busy: list[int], mobile: bool) -> None:
        rate = self.world.size.sessions
        for seat in self.world.community.seats.get(person.id, []):
            if not seat.student:
                continue
            begin = max(seat.start, self.clock.history_start)
            end = min(seat.stop, self.clock.now - 3 * 3600)
            weeks = (end - begin) / (7 * DAY)
            if weeks <= 0:
                continue
            count = int(rng.expovariate(1.0) * rate * weeks + 0.5)
            for _ in range(count):
                start = rng.randrange(begin, end)
                start = _daytime(rng, start)
                if not begin <= start < end or _near(busy, start, 3 * 3600):
                    continue
                bisect.insort(busy, start)
                kind = "ws" if mobile and rng.random() < 0.5 else "web"
                self.sessions.append(
                    (start, person.id, kind, rng.getrandbits(32), [], (seat.course,))
                )

    # -- one learner in one course -----------------------------------------------------------------

    def replay(self, rng: random.Random, person: Person, seat: Seat) -> list[Milestone]:
        course = self.world.course(seat.course)
        out: list[Milestone] = []
        outcome = Outcome()
        if seat.student and seat.start < seat.stop:
            engagement = rng.random()
            if engagement >= 0.15:
                reach = 1.0 if engagement >= 0.55 else rng.uniform(0.2, 0.8)
                self._activities(rng, person, seat, course, outcome, reach, out)
        if self.world.release.quiz_states_50 and seat.start < self.clock.now:
            self._precreated(rng, person, seat, course, outcome)
        if course.enablecompletion:
            self._course_completion(rng, person, seat, course, outcome, out)
        if not seat.removed_at:
            self._course_total(rng, person, course, outcome)
        if self.world.iomad:
            self._track(rng, person, seat, course, outcome)
        return out

    def _activities(
        self,
        rng: random.Random,
        person: Person,
        seat: Seat,
        course: Course,
        outcome: Outcome,
        reach: float,
        out: list[Milestone],
    ) -> None:
        # Activities hidden after the learner had done them keep their completion data.
        hidden_late = rng.random() < 0.5
        candidates = [
            a for a in course.activities if a.module != "label" and (a.visible or hidden_late)
        ]
        limit = max(1, round(len(candidates) * reach))
        when = seat.start + rng.randint(600, 2 * DAY)
        for activity in candidates[:limit]:
            if when >= seat.stop:
                break
            if activity.completion == 0 and rng.random() < 0.4:
                continue
            finished = self._do(rng, person, seat, course, activity, when, outcome, out)
            if finished >= seat.stop:
                break
            gap = rng.randint(120, 1500) if rng.random() < 0.6 else int(rng.expovariate(1 / DAY))
            when = finished + gap

    def _do(
        self,
        rng: random.Random,
        person: Person,
        seat: Seat,
        course: Course,
        activity: Activity,
        when: int,
        outcome: Outcome,
        out: list[Milestone],
    ) -> int:
        """Perform one activity from `when`; returns the time the learner moved on."""
        outcome.first = outcome.first or when
        out.append(
            (when, f"view_{activity.module}", course.id, activity.id, activity.instance, 0, None)
        )
        if activity.view and activity.completion == 2:
            self.emit(
                "course_modules_viewed",
                {
                    "id": self.ids.next("course_modules_viewed"),
                    "coursemoduleid": activity.id,
                    "userid": person.id,
                    "timecreated": when,
                },
            )
        done = when + rng.randint(30, 400)
        state = 1
        if activity.module == "quiz":
            done, state = self.quiz(
                rng, person, seat, self.quizzes[activity.id], when, outcome, out
            )
        elif activity.module == "scorm":
            done, state = self.scorm.attempts(
                rng, person, seat, self.scorms[activity.id], when, outcome, out
            )
        elif activity.module == "assign":
            done = self._assign(rng, person, seat, course, activity, when, outcome, out)
        elif activity.module == "forum" and activity.completion:
            self.forum_post += 1
            out.append((done, "forum_post", course.id, activity.id, self.forum_post, 0, None))
        elif activity.module == "feedback":
            self.feedback_response += 1
            out.append(
                (
                    done,
                    "feedback_submitted",
                    course.id,
                    activity.id,
                    self.feedback_response,
                    0,
                    None,
                )
            )
        if activity.completion and state >= 0 and done < seat.stop:
            self._complete(rng, person, course, activity, state, done, outcome, out)
        return done

    def _complete(
        self,
        rng: random.Random,
        person: Person,
        course: Course,
        activity: Activity,
        state: int,
        when: int,
        outcome: Outcome,
        out: list[Milestone],
    ) -> None:
        override = 0
        if activity.completion == 1 and rng.random() < 0.05:
            state = 0  # ticked, then unticked again
        elif state in (0, 3) and rng.random() < 0.05:
            override, state = self._teacher(course), 1
        if activity.grade_hidden and state == 3:
            state = 4
        cmc = self.ids.next("course_modules_completion")
        self.emit(
            "course_modules_completion",
            {
                "id": cmc,
                "coursemoduleid": activity.id,
                "userid": person.id,
                "completionstate": state,
                "overrideby": override or None,
                "timemodified": when,
            },
        )
        outcome.states[activity.id] = (state, when)
        out.append((when, "cm_completion", course.id, activity.id, cmc, person.id, None))

    def _teacher(self, course: Course) -> int:
        staff = self.world.community.teachers.get(course.id, [])
        return staff[0][0] if staff else 2

    # -- quiz --------------------------------------------------------------------------------------

    def quiz(
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
        ability = _ability(person)
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
            fraction = min(1.0, max(0.0, rng.gauss(ability + 0.08 * (number - 1), 0.15)))
            sumgrades = round(round(fraction * quiz.sumgrades * 2) / 2, 5)
            end = time + duration
            state = "finished"
            if end >= seat.stop:
                state = "inprogress"
            elif rng.random() < 0.08:
                state = rng.choice(unfinished)
            attempt_id = self._attempt(person.id, quiz, number, state, time, end, sumgrades, 0)
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

    def _attempt(
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

    def _precreated(
        self, rng: random.Random, person: Person, seat: Seat, course: Course, outcome: Outcome
    ) -> None:
        """Moodle 5.0 pre-creates attempts ('notstarted') for quizzes that ask for it."""
        for activity in course.activities:
            quiz = self.quizzes.get(activity.id)
            if quiz is None or not quiz.precreate or activity.id in outcome.states:
                continue
            if activity.id in outcome.attempted or seat.removed_at or rng.random() < 0.5:
                continue
            self._attempt(person.id, quiz, 1, "notstarted", seat.start, seat.start, 0.0, 0)

    # -- assignments -------------------------------------------------------------------------------

    def _assign(
        self,
        rng: random.Random,
        person: Person,
        seat: Seat,
        course: Course,
        activity: Activity,
        when: int,
        outcome: Outcome,
        out: list[Milestone],
    ) -> int:
        submitted = when + rng.randint(600, 5400)
        if submitted >= seat.stop:
            return submitted
        self.assign_submission += 1
        out.append(
            (submitted, "assign_submitted", course.id, activity.id, self.assign_submission, 0, None)
        )
        graded = _daytime(rng, submitted + rng.randint(1, 5) * DAY)
        teacher = self._teacher(course)
        if graded < min(self.clock.now, seat.stop) and not seat.removed_at:
            grade = float(round(min(100.0, max(0.0, rng.gauss(_ability(person) * 100, 12)))))
            outcome.grades[activity.id] = (grade, graded)
            slot = (teacher, graded - graded % DAY)
            self.slots.setdefault(slot, []).append(
                (
                    graded,
                    "assign_graded",
                    course.id,
                    activity.id,
                    self.assign_submission,
                    person.id,
                    None,
                )
            )
        return submitted

    # -- course level ------------------------------------------------------------------------------

    def _course_completion(
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

    def _course_total(
        self, rng: random.Random, person: Person, course: Course, outcome: Outcome
    ) -> None:
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

    def _track(
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

    # -- staff -------------------------------------------------------------------------------------

    def teaching(self, rng: random.Random, person: Person) -> None:
        """Weekly teaching sessions, and a preview attempt or two on each quiz taught."""
        taught = [
            c
            for c, staff in self.world.community.teachers.items()
            if any(user == person.id for user, _ in staff)
        ]
        if not taught:
            return
        begin = max(person.timecreated, self.clock.history_start)
        weeks = (self.clock.now - begin) / (7 * DAY)
        for _ in range(int(weeks * rng.uniform(0.8, 2.5))):
            start = _daytime(rng, rng.randrange(begin, self.clock.now - DAY))
            self.sessions.append(
                (start, person.id, "staff", rng.getrandbits(32), [], tuple(sorted(taught)))
            )
        for course_id in sorted(taught):
            for activity in self.world.course(course_id).activities:
                quiz = self.quizzes.get(activity.id)
                if quiz is None or rng.random() < 0.4:
                    continue
                start = max(activity.added + DAY, self.clock.history_start + DAY)
                start = rng.randrange(start, max(start + 1, self.clock.now - DAY))
                attempt = self._attempt(
                    person.id, quiz, 1, "finished", start, start + 300, quiz.sumgrades, preview=1
                )
                milestone = (
                    start,
                    "quiz_preview",
                    course_id,
                    activity.id,
                    attempt,
                    person.id,
                    json.dumps({"quizid": quiz.id}),
                )
                self.slots.setdefault((person.id, start - start % DAY), []).append(milestone)


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


def _near(times: list[int], when: int, margin: int) -> bool:
    """Whether a sorted list holds a time within `margin` seconds of `when`."""
    index = bisect.bisect_left(times, when - margin)
    return index < len(times) and times[index] < when + margin


def _ability(person: Person) -> float:
    return 0.35 + (person.id * 2654435761 % 1000) / 1000 * 0.6


def _daytime(rng: random.Random, when: int) -> int:
    """Move a time into working hours (UTC 07:00-20:00), where people actually study."""
    day = when - when % DAY
    return day + rng.randint(7 * 3600, 20 * 3600)


def hash_seed(seed: int, user: int, start: int) -> int:
    return (seed * 1_000_003 + user * 7919 + start) & 0xFFFFFFFF
