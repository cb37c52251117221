"""Nightly builds in tests: a demo's cases copied into a store of their own, built to a
directory site in one process, and the built site read back file by file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from gridportal.adapters.directory_site import DirectorySite, key_of
from gridportal.adapters.memory import MemoryStore
from gridportal.demo import ManualClock, copy_cases, generate_in_memory
from gridportal.domain.calendar import WorkCalendar
from gridportal.domain.credentials import Keys
from gridportal.domain.reference import District
from gridportal.publish import BuildReport, publish
from gridportal.services import Portal


def demo_until(end: datetime, district: District, calendar: WorkCalendar) -> Portal:
    """The demo's last 40 days of cases up to ``end`` (seed 7), on a store of their own."""
    factory = Portal(
        store=MemoryStore(), district=district, calendar=calendar, keys=Keys(b"k" * 32)
    )
    scratch, _ = generate_in_memory(factory, end=end, days=40, seed=7)
    return scratch


def copy_of(demo: Portal, at: datetime) -> Portal:
    """A fresh copy of the demo's cases, with its own clock standing at ``at``."""
    store = MemoryStore()
    copy_cases(demo.store, store)
    return Portal(
        store=store,
        district=demo.district,
        calendar=demo.calendar,
        keys=demo.keys,
        clock=ManualClock(at),
    )


def build(portal: Portal, site: Path, work: Path, **kwargs: object) -> BuildReport:
    target = DirectorySite(site)
    target.ensure_bucket()
    return publish(portal, target, work_dir=work, now=portal.clock(), workers=1, **kwargs)  # type: ignore[arg-type]


def files(root: Path) -> dict[str, bytes]:
    """A site directory's files by site key (``cases/<id>/index.html`` for the page
    stored as ``cases/<id>.html``, directory_site.stored_name)."""
    found = sorted(p for p in root.rglob("*") if p.is_file())
    return {key_of(p.relative_to(root).as_posix()): p.read_bytes() for p in found}
