"""User rows and per-course last access, written after the log so they agree with it.

Moodle updates `user.lastaccess` and `user_lastaccess` as people use the site, sets `firstaccess`
on the first visit and moves `currentlogin` to `lastlogin` at each login. The demo derives all of
them from the events it logged, so a report comparing the two sees what a real site shows.
"""

from __future__ import annotations

import hashlib

from manireports.demo.ids import Emit
from manireports.demo.learning import LearningPass
from manireports.demo.logbook import AccessStats
from manireports.demo.world import World


def emit_accounts(world: World, stats: AccessStats, offline: LearningPass, emit: Emit) -> None:
    """`offline` holds activity from before the log's window, which left no events."""
    now = world.clock.now
    for key, when in offline.offline_courses.items():
        stats.courses.setdefault(key, when)
    for person in world.community.people:
        early = offline.offline.get(person.id)
        first = early[0] if early else stats.first.get(person.id, 0)
        last = stats.last.get(person.id, early[1] if early else 0)
        # Logins older than the log's window are gone, but currentlogin still remembers one.
        previous, current = stats.logins.get(person.id, (0, early[1] if early else 0))
        deleted = bool(person.deleted_at)
        modified = max(person.timecreated, person.deleted_at, person.suspended_at)
        emit(
            "user",
            {
                "id": person.id,
                "auth": person.auth,
                "confirmed": person.confirmed,
                "deleted": int(deleted),
                "suspended": int(bool(person.suspended_at)),
                "mnethostid": 1,
                "username": person.username,
                "password": "" if deleted else _password(person.id),
                "idnumber": person.idnumber,
                "firstname": person.firstname,
                "lastname": person.lastname,
                "email": person.email,
                "city": person.locale.cities[person.id % len(person.locale.cities)],
                "country": person.locale.country,
                "lang": person.locale.lang,
                "timezone": person.timezone,
                "firstaccess": first,
                "lastaccess": last,
                "lastlogin": previous,
                "currentlogin": current,
                "lastip": person.ip if last else "",
                "picture": 0,
                "description": None,
                "timecreated": person.timecreated,
                "timemodified": modified,
            },
        )
    for number, ((user, course), when) in enumerate(sorted(stats.courses.items()), start=1):
        person = world.community.person(user)
        if not person.deleted_at:
            emit(
                "user_lastaccess",
                {"id": number, "userid": user, "courseid": course, "timeaccess": when},
            )
    session_id = 0
    for user, last in sorted(stats.last.items()):
        if last > now - 2 * 3600 and not world.community.person(user).active_until:
            session_id += 1
            emit(
                "sessions",
                {
                    "id": session_id,
                    "state": 0,
                    "sid": hashlib.sha1(f"sid{user}".encode(), usedforsecurity=False).hexdigest()[
                        :26
                    ],
                    "userid": user,
                    "sessdata": None,
                    "timecreated": stats.logins.get(user, (0, last))[1] or last,
                    "timemodified": last,
                    "firstip": world.community.person(user).ip,
                    "lastip": world.community.person(user).ip,
                },
            )
    for number, user in enumerate(sorted(stats.mobile), start=1):
        person = world.community.person(user)
        emit(
            "external_tokens",
            {
                "id": number,
                "token": hashlib.md5(f"token{user}".encode(), usedforsecurity=False).hexdigest(),
                "privatetoken": None,
                "tokentype": 0,
                "userid": user,
                "externalserviceid": 1,
                "sid": None,
                "contextid": 1,
                "creatorid": user,
                "iprestriction": None,
                "validuntil": 0,
                "timecreated": stats.first.get(user, person.timecreated),
                "lastaccess": stats.last.get(user),
                "name": "Moodle mobile web service",
            },
        )


def _password(user_id: int) -> str:
    """A bcrypt-shaped placeholder: the demo has no usable passwords."""
    digest = hashlib.sha256(f"demo{user_id}".encode()).hexdigest()
    return f"$2y$10${digest[:53]}"
