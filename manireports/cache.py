"""Pre-aggregated results kept in manireports_cache_summary.

An entry is keyed `reporttype_referenceid_filtershash`: the hash covers everything that changes
the answer, so two requests share an entry only when they would compute the same thing. Each
entry carries the TTL of its kind (dashboard widgets, trends, historical answers; `[cache]`), set
when it is written, and an entry past its TTL is never served: a reader gets nothing and computes
afresh. An entry may also carry a fingerprint of the Moodle data it was computed from; a reader
that brings a different fingerprint (Moodle changed, or a restored site went back in time) is not
served either, so the TTL is only a ceiling. Reads answered count as hits of the entry; a
computation that replaces a missing, stale or outdated entry counts as a miss of it, and the reads
that found it outdated also count as invalidations, so `cache stats` can say how often the cache
saved a query and how often Moodle's changes made it recompute.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import sqlalchemy as sa

from manireports.config import Config
from manireports.errors import InputError
from manireports.state.store import StateDB
from manireports.state.tables import cache_summary as entries

Kind = Literal["dashboard", "trends", "historical"]


def _json_value(value: Any) -> Any:
    # MariaDB and PostgreSQL return DECIMAL columns (rates, scores) as Decimal.
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{value.__class__.__name__} cannot be cached")


def filters_hash(filters: Mapping[str, Any]) -> str:
    """A stable digest of the filters, whatever their order."""
    text = json.dumps(filters, sort_keys=True, separators=(",", ":"), default=_json_value)
    return hashlib.sha256(text.encode()).hexdigest()


def cache_key(reporttype: str, referenceid: int | None, filters: Mapping[str, Any]) -> str:
    return f"{reporttype}_{referenceid or 0}_{filters_hash(filters)}"


@dataclass(frozen=True)
class CacheStats:
    """One report type's entries, for `cache stats`; ages are in seconds."""

    reporttype: str
    entries: int
    fresh: int
    newest_age: int
    oldest_age: int
    hits: int
    misses: int
    # Misses because Moodle's data had changed since the entry was computed.
    invalidations: int = 0

    @property
    def hit_rate(self) -> float | None:
        reads = self.hits + self.misses
        return None if reads == 0 else round(100.0 * self.hits / reads, 1)


class ResultCache:
    """The cache over one state database, with the TTLs and switch of `[cache]`."""

    def __init__(self, state: StateDB, config: Config) -> None:
        self.state = state
        self.enabled = config.settings.cache.enabled
        cache = config.settings.cache
        self.ttls: dict[Kind, int] = {
            "dashboard": cache.ttl_dashboard_seconds,
            "trends": cache.ttl_trends_seconds,
            "historical": cache.ttl_historical_seconds,
        }

    def get(self, key: str, *, now: int, fingerprint: str | None = None) -> Any | None:
        """The data of a fresh entry (counting a hit), else None.

        With a `fingerprint`, an entry computed from other Moodle data is not fresh: the read
        counts as an invalidation of it and returns None.
        """
        if not self.enabled:
            return None
        fresh = sa.and_(entries.c.cachekey == key, entries.c.lastgenerated + entries.c.ttl > now)
        with self.state.begin() as connection:
            found = connection.execute(
                sa.select(entries.c.datajson, entries.c.fingerprint).where(fresh)
            ).first()
            if found is None:
                return None
            if fingerprint is not None and found.fingerprint != fingerprint:
                connection.execute(
                    sa.update(entries)
                    .where(fresh)
                    .values(invalidations=entries.c.invalidations + 1)
                )
                return None
            connection.execute(sa.update(entries).where(fresh).values(hits=entries.c.hits + 1))
        return json.loads(found.datajson)

    def put(
        self,
        kind: Kind,
        reporttype: str,
        referenceid: int | None,
        filters: Mapping[str, Any],
        data: Any,
        *,
        now: int,
        missed: bool,
        fingerprint: str | None = None,
    ) -> str | None:
        """Store `data` as the entry for these filters; `missed` counts the read it answers.

        `fingerprint` is the Moodle data's, taken before `data` was computed, so a change made
        during the computation makes the next read recompute rather than serve stale rows.

        Returns the key, or None when the cache is off. A concurrent writer of the same key
        makes the insert fail; the update that follows then keeps whichever came last.
        """
        if not self.enabled:
            return None
        key = cache_key(reporttype, referenceid, filters)
        values = {
            "reporttype": reporttype,
            "referenceid": referenceid,
            "datajson": json.dumps(data, separators=(",", ":"), default=_json_value),
            "lastgenerated": now,
            "ttl": self.ttls[kind],
            "fingerprint": fingerprint,
        }
        for attempt in range(2):
            try:
                with self.state.begin() as connection:
                    updated = connection.execute(
                        sa.update(entries)
                        .where(entries.c.cachekey == key)
                        .values(**values, misses=entries.c.misses + int(missed))
                    ).rowcount
                    if not updated:
                        connection.execute(
                            sa.insert(entries).values(
                                cachekey=key, hits=0, misses=int(missed), invalidations=0, **values
                            )
                        )
                return key
            except sa.exc.IntegrityError:
                if attempt:
                    raise
        return key  # pragma: no cover - the loop returns or raises

    def stats(self, *, now: int) -> list[CacheStats]:
        """Entries per report type: how many, how many fresh, their ages and their reads."""
        fresh = sa.case((entries.c.lastgenerated + entries.c.ttl > now, 1), else_=0)
        query = (
            sa.select(
                entries.c.reporttype,
                sa.func.count(),
                sa.func.sum(fresh),
                sa.func.max(entries.c.lastgenerated),
                sa.func.min(entries.c.lastgenerated),
                sa.func.sum(entries.c.hits),
                sa.func.sum(entries.c.misses),
                sa.func.sum(entries.c.invalidations),
            )
            .group_by(entries.c.reporttype)
            .order_by(entries.c.reporttype)
        )
        with self.state.begin() as connection:
            rows = connection.execute(query).all()
        return [
            CacheStats(
                reporttype=str(row[0]),
                entries=int(row[1]),
                fresh=int(row[2] or 0),
                newest_age=now - int(row[3]),
                oldest_age=now - int(row[4]),
                hits=int(row[5] or 0),
                misses=int(row[6] or 0),
                invalidations=int(row[7] or 0),
            )
            for row in rows
        ]

    def clear(self, reporttype: str | None = None) -> int:
        """Delete every entry, or those of one report type; returns how many went."""
        statement = sa.delete(entries)
        if reporttype is not None:
            if not reporttype.strip():
                raise InputError(
                    "--type needs a report type; `manireports cache stats` lists them."
                )
            statement = statement.where(entries.c.reporttype == reporttype)
        with self.state.begin() as connection:
            return int(connection.execute(statement).rowcount or 0)
