"""The vocabulary shared by the parts of the learning replay and the log pass."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from manireports.demo.people import Person
from manireports.demo.sizes import DAY

# A milestone is (time, event code, course, course module, object id, related user, other).
Milestone = tuple[int, str, int, int, int, int, str | None]
# A session is (start, user, kind, seed, milestones, courses to browse).
Session = tuple[int, int, str, int, list[Milestone], tuple[int, ...]]

# Completion states that satisfy an activity criterion: complete, complete-pass.
COMPLETE_STATES = (1, 2)


@dataclass
class Outcome:
    """One learner's results in one course, collected while replaying it."""

    states: dict[int, tuple[int, int]] = field(default_factory=dict)  # cm -> (state, time)
    grades: dict[int, tuple[float, int]] = field(default_factory=dict)  # cm -> (grade, time)
    attempted: set[int] = field(default_factory=set)  # quiz course modules
    first: int = 0
    completed: int | None = None
    total: float | None = None


def ability(person: Person) -> float:
    """How well a person scores, stable per person so their quizzes and packages agree."""
    return 0.35 + (person.id * 2654435761 % 1000) / 1000 * 0.6


def daytime(rng: random.Random, when: int) -> int:
    """Move a time into working hours (UTC 07:00-20:00), where people actually study."""
    day = when - when % DAY
    return day + rng.randint(7 * 3600, 20 * 3600)
