"""The demo: a Moodle-shaped database full of realistic, deterministic data.

The same (seed, anchor, size, release, iomad) always gives the same rows on every engine, so
reports can be tested against known figures. The data follows Moodle's own rules (how each table
is written by Moodle's code), including the awkward cases real sites have.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from manireports.demo.accounts import emit_accounts
from manireports.demo.learning import LearningPass
from manireports.demo.load import Loader, engine_for, prepare
from manireports.demo.logbook import AccessStats, log_rows
from manireports.demo.site_events import SiteEvents
from manireports.demo.sizes import Clock, pick_release, pick_size
from manireports.demo.static import emit_static
from manireports.demo.world import build_world
from manireports.errors import DatabaseError
from manireports.moodle.schema import DEMO_TABLES, build_metadata, load_schema

__all__ = ["DemoSummary", "build_demo"]

LOG_TABLE = "logstore_standard_log"


@dataclass(frozen=True)
class DemoSummary:
    """What was built: `rows` counts every demo table (unprefixed names), `url` hides passwords."""

    url: str
    size: str
    seed: int
    rows: dict[str, int]
    seconds: float
    anchor: dt.date
    release: str


def build_demo(
    url: str,
    *,
    size: str = "small",
    seed: int = 1,
    iomad: bool = True,
    anchor: dt.date | None = None,
    release: str = "4.5",
    prefix: str = "mdl_",
    progress: Callable[[str], None] | None = None,
) -> DemoSummary:
    """Build (or rebuild) the demo site at `url`; refuses a database holding a real Moodle.

    `anchor` is the demo's "today" (default: today in UTC); the history covers the 180 days
    before it. `release` picks the Moodle version recorded in config and the table layouts that
    version has (SCORM before/after 4.3, IOMAD's renamed tables on 5.1).
    """
    started = time.monotonic()
    say = progress or (lambda message: None)
    spec = pick_size(size)
    moodle = pick_release(release)
    clock = Clock(anchor or dt.datetime.now(dt.UTC).date())
    layout = moodle.iomad_layout if iomad else None
    metadata = build_metadata(prefix, DEMO_TABLES, scorm=moodle.scorm, iomad=layout)
    definitions = {
        name: table
        for name, table in load_schema().tables(scorm=moodle.scorm, iomad=layout).items()
        if prefix + name in metadata.tables
    }
    engine = engine_for(url)
    try:
        prepare(engine, prefix)
        loader = Loader(engine, metadata, prefix, definitions)
        say(f"creating {len(definitions)} Moodle {moodle.name} tables")
        loader.create_tables()
        loader.mark(
            {
                "seed": seed,
                "size": spec.name,
                "anchor": clock.anchor.isoformat(),
                "release": moodle.name,
                "iomad": iomad,
            }
        )
        world = build_world(seed, spec, clock, moodle, iomad)
        people = len(world.community.people)
        say(f"site: {len(world.catalogue.courses) - 1} courses, {people} users")
        with loader.session():
            emit_static(world, loader.add)
            learning = LearningPass(world, loader.add, seed)
            learning.run()
            say(f"learning records written; {len(learning.sessions)} sessions to log")
            extra = SiteEvents(world, seed).build()
            stats = AccessStats()
            loader.load(LOG_TABLE, log_rows(world, learning.sessions, extra, stats))
            say(f"log written: {len(stats.first)} users active in it")
            emit_accounts(world, stats, learning, loader.add)
        say("creating indexes")
        loader.create_indexes()
    except sa.exc.OperationalError as exc:
        raise DatabaseError(
            f"The demo database failed while loading: {str(exc.orig).splitlines()[0]}"
        ) from exc
    finally:
        engine.dispose()
    rows = {name: loader.counts.get(name, 0) for name in sorted(definitions)}
    rows["config"] += 1  # the demo marker
    seconds = round(time.monotonic() - started, 2)
    say(f"done in {seconds} s")
    shown = sa.make_url(url).render_as_string(hide_password=True)
    return DemoSummary(
        url=shown,
        size=spec.name,
        seed=seed,
        rows=rows,
        seconds=seconds,
        anchor=clock.anchor,
        release=moodle.name,
    )
