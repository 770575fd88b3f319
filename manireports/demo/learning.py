"""What each learner did: activity completion, quiz and SCORM attempts, grades, course completion.

Every learner is replayed from a random stream of their own (seeded by the demo seed and their
id), so the result does not depend on how many people came before them. The replay writes the
learning tables directly and leaves behind the timed "milestones" (viewed, attempted, completed,
...) that the log pass turns into standard-log events; the stored times and the log agree.
"""

from __future__ import annotations

import bisect
import random

from manireports.demo.course_results import CourseResults
from manireports.demo.courses import Activity, Course
from manireports.demo.ids import Emit, Ids, random_stream
from manireports.demo.people import Person, Seat
from manireports.demo.quiz_attempts import QuizAttempts
from manireports.demo.replay import Milestone, Outcome, Session, ability, daytime
from manireports.demo.scorm_tracks import ScormTracks
from manireports.demo.sizes import DAY, Clock
from manireports.demo.world import World

SESSION_GAP = 45 * 60


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
        self.quiz = QuizAttempts(world, emit, self.ids)
        self.results = CourseResults(world, emit, self.ids)
        self.scorms = {scorm.activity.id: scorm for scorm in world.catalogue.scorms}
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
                start = daytime(rng, start)
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
            self.quiz.precreate(rng, person, seat, course, outcome)
        if course.enablecompletion:
            self.results.completion(rng, person, seat, course, outcome, out)
        if not seat.removed_at:
            self.results.total(rng, person, course, outcome)
        if self.world.iomad:
            self.results.track(rng, person, seat, course, outcome)
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
            quiz = self.quiz.by_activity[activity.id]
            done, state = self.quiz.take(rng, person, seat, quiz, when, outcome, out)
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
            override, state = self._teacher(course, when), 1
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

    def _teacher(self, course: Course, when: int) -> int:
        """The course's teacher if their account existed by then; the admin stands in otherwise."""
        for user, _ in self.world.community.teachers.get(course.id, []):
            if self.world.community.person(user).timecreated + DAY < when:
                return user
        return 2

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
        graded = daytime(rng, submitted + rng.randint(1, 5) * DAY)
        teacher = self._teacher(course, graded)
        if graded < min(self.clock.now, seat.stop) and not seat.removed_at:
            grade = float(round(min(100.0, max(0.0, rng.gauss(ability(person) * 100, 12)))))
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
            start = daytime(rng, rng.randrange(begin, self.clock.now - DAY))
            self.sessions.append(
                (start, person.id, "staff", rng.getrandbits(32), [], tuple(sorted(taught)))
            )
        for course_id in sorted(taught):
            for activity in self.world.course(course_id).activities:
                quiz = self.quiz.by_activity.get(activity.id)
                if quiz is None or rng.random() < 0.4:
                    continue
                start = max(activity.added, self.clock.history_start, person.timecreated) + DAY
                start = rng.randrange(start, max(start + 1, self.clock.now - DAY))
                milestone = self.quiz.preview(person.id, quiz, start)
                self.slots.setdefault((person.id, start - start % DAY), []).append(milestone)


def _near(times: list[int], when: int, margin: int) -> bool:
    """Whether a sorted list holds a time within `margin` seconds of `when`."""
    index = bisect.bisect_left(times, when - margin)
    return index < len(times) and times[index] < when + margin


def hash_seed(seed: int, user: int, start: int) -> int:
    """A batched session's seed, derived so that it takes no draw from anyone's stream."""
    return (seed * 1_000_003 + user * 7919 + start) & 0xFFFFFFFF
