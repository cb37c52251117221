"""The nightly rebuild: changed cases → public records → metrics → Pelican → S3.

Work grows with what changed. The cases read are those changed since the last
build plus every open case (an open case's deadline status moves with the
calendar even when nobody touches it); the rest of the published data set is
taken from the previous build's ``data/cases.json``. Only the case pages of
those records are rendered, and only files whose content changed are uploaded.
The build marker moves only after a successful upload, so a failed night is
simply redone the next time.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gridportal.adapters.s3_site import PublishResult, S3Site
from gridportal.domain import opendata
from gridportal.domain.lifecycle import replay
from gridportal.domain.metrics import compute_metrics
from gridportal.domain.model import Event
from gridportal.domain.publication import public_record
from gridportal.ports import COMMAND_CENTRE, CaseRecord, Store
from gridportal.services import Portal

MARKER = "build"
DATASET = "data/cases.json"
# A step's time is taken before its write lands, and the ``changed`` index is eventually
# consistent: re-read a margin before the last build so no late write is missed for good.
OVERLAP = timedelta(minutes=15)
# Bump when what a published record holds changes (allowlist, redactor): the next build
# is then a full one, so no page published under the old rules stays online.
PUBLICATION_VERSION = "2026-11-22.1"
VERSION_MARKER = "publication-version"


@dataclass
class BuildReport:
    full: bool
    changed: int
    total: int
    published: PublishResult | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "full": self.full,
            "changed_cases": self.changed,
            "total_cases": self.total,
            **(self.published.summary() if self.published else {}),
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


class _Timer:
    def __init__(self, report: BuildReport) -> None:
        self.report = report
        self.started = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.report.seconds[name] = now - self.started
        self.started = now


def trackings_to_refresh(
    store: Store, portal: Portal, since: datetime, until: datetime
) -> set[str]:
    """Changed since the last build, plus every open case (their deadlines keep moving)."""
    trackings = set(store.changed_since(since, until))
    for queue in (COMMAND_CENTRE, *(d.id for d in portal.district.departments)):
        trackings.update(record.tracking for record in store.unit_queue(queue))
    return trackings


def histories(portal: Portal, trackings: Iterable[str]) -> Iterator[tuple[CaseRecord, list[Event]]]:
    for tracking in trackings:
        history = portal.store.get_history(tracking)
        if history is not None:
            yield history.record, list(history.events)


def public_records(
    portal: Portal, cases: Iterable[tuple[CaseRecord, list[Event]]]
) -> list[dict[str, Any]]:
    out = []
    for record, events in cases:
        state = replay(events)
        deadlines, note = portal.deadlines_of(state)
        out.append(
            public_record(
                record.file,
                state,
                events,
                portal.district,
                deadlines=deadlines,
                deadline_note=note,
                public_id_of=portal.keys.public_id,
            )
        )
    return out


def merge(previous: Iterable[Mapping[str, Any]], fresh: Iterable[Mapping[str, Any]]) -> list[Any]:
    by_id = {r["id"]: r for r in previous}
    by_id.update({r["id"]: r for r in fresh})
    return sorted(by_id.values(), key=lambda r: (r["received_at"], r["id"]))


def publish(
    portal: Portal,
    site: S3Site,
    *,
    work_dir: Path,
    site_url: str = "",
    full: bool = False,
    now: datetime | None = None,
    project_root: Path | None = None,
) -> BuildReport:
    from gridportal.adapters.pelican_site import build_site  # heavy: Pelican, Markdown

    now = now or portal.clock()
    store = portal.store
    marker = store.get_marker(MARKER)
    if store.get_marker(VERSION_MARKER) != PUBLICATION_VERSION:
        full = True
    previous_data = None if (full or marker is None) else site.read(DATASET)
    full = previous_data is None
    report = BuildReport(full=full, changed=0, total=0)
    timer = _Timer(report)

    if full:
        cases = store.all_histories()
        previous: list[Mapping[str, Any]] = []
    else:
        assert marker is not None and previous_data is not None
        since = datetime.fromisoformat(marker) - OVERLAP
        cases = histories(portal, trackings_to_refresh(store, portal, since, now))
        previous = json.loads(previous_data)
    fresh = public_records(portal, cases)
    records = merge(previous, fresh)
    report.changed, report.total = len(fresh), len(records)
    timer.lap("export")

    metrics = compute_metrics(records, portal.district, now=now)
    timer.lap("metrics")

    # The output directory is kept between builds: it mirrors the published site, so an
    # incremental build only rewrites changed pages and the upload compares hashes.
    output = work_dir / "site"
    build_site(
        output_dir=output,
        records=records,
        district=portal.district,
        metrics=metrics,
        changed_ids=None if full else {r["id"] for r in fresh},
        site_url=site_url,
        build_time=now,
        project_root=project_root,
    )
    write_open_data(output, records, metrics)
    timer.lap("render")

    report.published = site.publish(output)
    store.set_marker(MARKER, now.isoformat())
    store.set_marker(VERSION_MARKER, PUBLICATION_VERSION)
    timer.lap("upload")
    return report


def write_open_data(output: Path, records: list[Any], metrics: Mapping[str, Any]) -> None:
    data = output / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "cases.json").write_text(opendata.cases_json(records), encoding="utf-8")
    (data / "cases.csv").write_text(opendata.cases_csv(records), encoding="utf-8")
    (data / "metrics.json").write_text(opendata.metrics_json(metrics), encoding="utf-8")


def publish_from_runtime(
    rt: Any, *, full: bool = False, work_dir: Path | None = None
) -> BuildReport:
    """The scheduled Lambda and ``portal build`` both land here."""
    site = S3Site(rt.s3(), rt.settings.site_bucket)
    site.ensure_bucket()
    return publish(
        rt.portal,
        site,
        # On Lambda the temporary directory is the only writable place.
        work_dir=work_dir or Path(tempfile.gettempdir()) / "gridportal-build",
        site_url=rt.settings.site_url,
        project_root=rt.settings.project_root,
        full=full,
        now=datetime.now(UTC),
    )
