"""Privacy figures: recall per kind, over-masking, redaction speed, a whole-corpus build.

    python benchmarks/privacy.py            # recall, over-masking, speed
    python benchmarks/privacy.py --site     # also build a site from the whole corpus
    python benchmarks/privacy.py --baseline REV   # also time the redactor at git REV
    python benchmarks/privacy.py --seeds N   # also the corpus forms under N other seeds

Recall is measured on the seeded corpus (tests/fixtures/privacy/corpus.jsonl): each
complaint's free text goes through its case's scrubber and each sentinel is searched
for after the same normalisation. Over-masking is the share of ordinary complaints
(ordinary.jsonl) that the redactor changes. docs/privacy.md keeps the figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import types
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from fixtures.privacy import corpus  # noqa: E402
from gridportal.demo import wording  # noqa: E402
from gridportal.domain import redaction  # noqa: E402
from gridportal.domain.model import Contact  # noqa: E402
from gridportal.domain.redaction import (  # noqa: E402
    PLACEHOLDERS,
    KnownPeople,
    case_scrubber,
    normalise,
    public_data,
    redact,
)
from gridportal.domain.reference import District, parse_district  # noqa: E402


def district() -> District:
    with open(ROOT / "content" / "district.json", encoding="utf-8") as handle:
        return parse_district(json.load(handle))


def per_second(fn: Callable[[str], str], texts: list[str], rounds: int = 3) -> float:
    """Texts per second of CPU time, best of ``rounds``, each text new to the caches
    (``redaction.forget``: the corpus repeats its templates far more than residents do)."""
    best = float("inf")
    for _ in range(rounds):
        elapsed = 0.0
        for text in texts:
            redaction.forget()
            started = time.process_time()
            fn(text)
            elapsed += time.process_time() - started
        best = min(best, elapsed)
    return len(texts) / best if best else float("inf")


def cases_per_second(
    items: list[dict[str, Any]], public: Any, module: Any = redaction, rounds: int = 3
) -> float:
    """Cases per second of CPU time, best of ``rounds``: as in an export, each case
    builds its scrubber from its contact and passes its five free texts through it."""
    best = float("inf")
    for _ in range(rounds):
        elapsed = 0.0
        for item in items:
            redaction.forget()
            started = time.process_time()
            contact = Contact(item["contact"]["name"], item["contact"]["phone"])
            scrub = module.case_scrubber(module.KnownPeople.of_contact(contact), public)
            for field in corpus.FREE_TEXT:
                scrub(item[field])
            elapsed += time.process_time() - started
        best = min(best, elapsed)
    return len(items) / best if best else float("inf")


def old_redactor(rev: str) -> types.ModuleType:
    source = subprocess.run(
        ["git", "show", f"{rev}:src/gridportal/domain/redaction.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType("redaction_at_" + rev)
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, module.__name__, "exec"), module.__dict__)
    return module


FRAMES_BEFORE = ("", "楼道堆物，", "2026年11月3日，", "第3网格：")
FRAMES_AFTER = ("", "，请尽快处理。", "\n谢谢", " 12345热线")


def seeded_forms(seeds: int, public: Any) -> tuple[int, list[tuple[str, str, str]]]:
    """Every kind's form under each of ``seeds`` seeds, framed as in the hypothesis test
    and through its case's scrubber: (forms tried, the ones that got through). A name
    on a grid bulletin is public and not counted."""
    import random

    tried, missed = 0, []
    for seed in range(seeds):
        rng = random.Random(seed)
        for kind in corpus.KINDS:
            contact = {"name": corpus.person(rng), "phone": corpus.mobile(rng)}
            text, value = corpus.FORMS[kind](rng, contact)
            text = rng.choice(FRAMES_BEFORE) + text + rng.choice(FRAMES_AFTER)
            if value in public.names:
                continue
            known = KnownPeople.of_contact(Contact(contact["name"], contact["phone"]))
            published = case_scrubber(known, public)(text)
            tried += 1
            if corpus.found({"kind": kind, "value": value}, published):
                missed.append((kind, text, published))
    return tried, missed


def build_site(items: list[dict[str, object]], where: Path) -> list[tuple[str, str, str]]:
    from conftest import SECRET, Clock
    from gridportal.adapters.calendar_file import load_calendar
    from gridportal.adapters.directory_site import DirectorySite
    from gridportal.adapters.memory import MemoryStore
    from gridportal.domain.credentials import Keys
    from gridportal.publish import publish
    from gridportal.services import Portal
    from test_privacy import IMPORTED_FIELDS, _import

    d = district()
    portal = Portal(
        store=MemoryStore(),
        district=d,
        calendar=load_calendar(ROOT / "content" / "calendar" / "overrides.json"),
        keys=Keys(SECRET.encode()),
        clock=Clock(datetime(2026, 11, 16, 1, 30, tzinfo=UTC)),
    )
    _import(portal, items)
    site = DirectorySite(where / "site")
    site.ensure_bucket()
    publish(portal, site, work_dir=where / "work", full=True)
    background = "\n".join(public_data(d).names)
    return corpus.site_leaks(where / "site", items, IMPORTED_FIELDS, background)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", action="store_true", help="build a site from the whole corpus")
    parser.add_argument("--baseline", metavar="REV", help="also time the redactor at git REV")
    parser.add_argument("--seeds", type=int, default=0, help="also the forms under N seeds")
    args = parser.parse_args()

    d = district()
    public = public_data(d)
    items = corpus.load(corpus.CORPUS)
    ordinary = corpus.load(corpus.ORDINARY)

    started, started_cpu = time.perf_counter(), time.process_time()
    redact("王小明说")  # the first call loads jieba's dictionary (once per process)
    load_seconds = time.perf_counter() - started
    load_cpu = time.process_time() - started_cpu

    def scrubber_for(contact: dict[str, str]) -> Callable[[str], str]:
        return case_scrubber(
            KnownPeople.of_contact(Contact(contact["name"], contact["phone"])), public
        )

    result = corpus.measure(items, ordinary, scrubber_for, lambda t: redact(t, public), normalise)
    print(f"corpus: {len(items)} complaints, {sum(result['seen'].values())} sentinels")
    print(f"{'kind':<12} {'sentinels':>9} {'recall':>8}")
    for kind in corpus.KINDS:
        print(f"{kind:<12} {result['seen'][kind]:>9} {result['recall'][kind]:>8.2%}")
    print(
        f"over-masking: {result['over_masking']:.2%} of {len(ordinary)} ordinary complaints changed"
    )
    for kind, raw, published in result["missed"][:20]:
        print(f"  missed {kind}: {raw!r} -> {published!r}")
    print("missed per kind:", dict(Counter(kind for kind, _, _ in result["missed"])))
    # The demo generator's own wording names no one: whatever is masked in it is lost.
    own = list(wording(d))
    masked: Counter[str] = Counter()
    for text in own:
        out = redact(text, public)
        masked.update(kind for kind, mark in PLACEHOLDERS.items() if mark in out)
    print(f"over-masking, the demo's own wording ({len(own)} texts): {dict(masked) or 'none'}")

    descriptions = [item["description"] for item in items]
    plain = [o["text"] for o in ordinary]
    print(
        f"jieba dictionary load (once per process): {load_cpu:.2f} s CPU, {load_seconds:.2f} s wall"
    )

    def now(text: str) -> str:
        return redact(text, public)

    print(f"redact, corpus descriptions: {per_second(now, descriptions):,.0f}/s")
    print(f"redact, ordinary complaints: {per_second(now, plain):,.0f}/s")
    print(f"case scrubber built, all five fields: {cases_per_second(items, public):,.0f} cases/s")
    if args.baseline:
        old = old_redactor(args.baseline)
        old_public = old.public_data(d)

        def then(text: str) -> str:
            redacted: str = old.redact(text, old_public)
            return redacted

        at = f"at {args.baseline}"
        print(f"redact {at}, corpus descriptions: {per_second(then, descriptions):,.0f}/s")
        print(f"redact {at}, ordinary complaints: {per_second(then, plain):,.0f}/s")
        built = cases_per_second(items, old_public, old)
        print(f"case scrubber built {at}, all five fields: {built:,.0f} cases/s")

    if args.seeds:
        tried, missed = seeded_forms(args.seeds, public)
        print(f"forms under {args.seeds} seeds: {len(missed)} of {tried} got through")
        for kind, raw, published in missed[:20]:
            print(f"  missed {kind}: {raw!r} -> {published!r}")

    if args.site:
        with tempfile.TemporaryDirectory() as where:
            started = time.perf_counter()
            leaks = build_site(items, Path(where))
            print(
                f"site from the whole corpus: built and searched in "
                f"{time.perf_counter() - started:.0f} s, {len(leaks)} sentinels found"
            )
            for leak in leaks[:20]:
                print("  leaked", leak)


if __name__ == "__main__":
    main()
