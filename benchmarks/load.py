"""``make bench-load``: simulated residents against the local origin, then a reconciliation.

On loopback only. For each data set (the demo district, then 100,000 cases), this:

1. prepares an embedded portal in a scratch directory (SQLite file and site directory),
2. starts ``portal serve`` in its own process and times how long it takes to answer,
3. runs N simulated residents (default 32) for D seconds (default 60): each files a
   complaint with an Idempotency-Key (and sometimes sends the same request again, as a
   phone on a bad network does), looks it up with its code, waits until the command centre
   answers it, votes, and sends the vote again; a command-centre desk moves the filed cases
   through the staff API meanwhile, and the nightly build (``portal build``, a separate
   process) runs while the residents work,
4. reconciles against the store: every 201 receipt is in the store exactly once and the
   store gained no case beyond them, every retry got the same case, every accepted vote is
   there and none was counted twice (a vote sent again gets its first answer again),
5. prints requests per second (over the residents' time), p50 and p99 per route, errors,
   and the server's memory once warm (it loads in the background what the API would load
   in the middle of a request, and says when it is done) and after each run;
   ``--rounds N`` runs N times on one server, a soak.

Residents arrive over the first ``2 × --think`` seconds and pause between steps (``--think``,
mean seconds) as people do; ``--think 0`` turns them into a closed loop, all starting at
once, that measures saturation instead.

    python benchmarks/load.py [--residents 32] [--seconds 60] [--only demo|100k]
                              [--rounds 1] [--port 8765]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gridportal.demo_server import DEMO_PASSWORD, WARMED, embedded_settings  # noqa: E402

DEFAULT_PORT = 8765
SECRET = "bench-load-secret"
RETRY_SHARE = 0.2  # of filings and votes sent twice with the same key or token


# -- the client side ----------------------------------------------------------------------


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, route: str, seconds: float, status: int) -> None:
        with self.lock:
            self.times[route].append(seconds)
            self.statuses[route][status] += 1
            if status >= 500 or status == 0:
                self.errors[route] += 1


@dataclass
class Ledger:
    """What the clients were told, to reconcile with the store afterwards."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    receipts: dict[str, str] = field(default_factory=dict)  # idempotency key -> tracking
    retry_mismatches: int = 0
    votes_accepted: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    to_answer: list[str] = field(default_factory=list)


class Client:
    def __init__(self, port: int, stats: Stats) -> None:
        self.port = port
        self.stats = stats
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(
        self,
        route: str,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        sent = {"Content-Type": "application/json", **(headers or {})}
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=data, headers=sent)
            response = self.conn.getresponse()
            raw = response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.stats.add(route, time.perf_counter() - started, 0)
            return 0, None
        self.stats.add(route, time.perf_counter() - started, status)
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, None


def resident(
    port: int, stats: Stats, ledger: Ledger, until: float, think: float, seed: int, grids: list
) -> None:
    rng = random.Random(seed)
    client = Client(port, stats)

    def pause() -> None:
        if think > 0:
            time.sleep(min(rng.expovariate(1 / think), 5 * think))

    # Residents arrive over the first moments, not all in the same millisecond: 32 filings
    # at once would queue 32 disk syncs behind one another, a burst only the start has.
    if think > 0:
        time.sleep(rng.uniform(0, 2 * think))
    while time.time() < until:
        category, grid = rng.choice(grids)
        key = secrets.token_urlsafe(16)
        body = {
            "category": category,
            "grid": grid,
            "location": "3号楼东侧",
            "description": f"楼道堆物影响通行,请尽快处理。编号{rng.randrange(10**6)}",
            "name": "李女士",
            "phone": "13800138000",
        }
        status, receipt = client.call(
            "file", "POST", "/api/complaints", body, {"Idempotency-Key": key}
        )
        if status != 201:
            pause()
            continue
        tracking = receipt["tracking"]
        with ledger.lock:
            ledger.receipts[key] = tracking
            ledger.to_answer.append(tracking)
        if rng.random() < RETRY_SHARE:  # the answer was lost: send the same request again
            again, repeated = client.call(
                "file (retry)", "POST", "/api/complaints", body, {"Idempotency-Key": key}
            )
            if again != 201 or repeated["tracking"] != tracking:
                with ledger.lock:
                    ledger.retry_mismatches += 1
        pause()
        code = receipt["lookup_code"]
        client.call("lookup", "POST", "/api/cases/lookup", {"tracking": tracking, "code": code})
        # Wait for the command centre's answer, looking the case up now and then.
        deadline = time.time() + 20
        can_vote = False
        while time.time() < min(deadline, until):
            pause()
            status, view = client.call(
                "lookup", "POST", "/api/cases/lookup", {"tracking": tracking, "code": code}
            )
            if status == 200 and view.get("can_vote"):
                can_vote = True
                break
        if not can_vote:
            continue
        vote = {"tracking": tracking, "token": receipt["vote_token"], "rating": "satisfied"}
        for attempt in range(2 if rng.random() < RETRY_SHARE else 1):
            status, _ = client.call(
                "vote" if attempt == 0 else "vote (again)", "POST", "/api/cases/vote", vote
            )
            if status == 201:
                with ledger.lock:
                    ledger.votes_accepted[tracking] += 1
        pause()


def command_centre(port: int, stats: Stats, ledger: Ledger, until: float) -> None:
    """The dispatcher answers filed cases directly (直接答复), through the staff API."""
    client = Client(port, stats)
    _, answer = client.call(
        "staff login",
        "POST",
        "/api/staff/login",
        {"username": "dispatch-01", "password": DEMO_PASSWORD},
    )
    auth = {"Authorization": f"Bearer {answer['token']}"}
    while time.time() < until:
        with ledger.lock:
            batch, ledger.to_answer = ledger.to_answer, []
        for tracking in batch:
            client.call(
                "staff action",
                "POST",
                f"/api/staff/cases/{tracking}/actions",
                {"action": "answer", "public_note": "已答复:已通知物业当日清理。"},
                auth,
            )
        client.call("staff queue", "GET", "/api/staff/queue", None, auth)
        time.sleep(0.5)


# -- the server side ----------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    out = subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True)
    return int(out.stdout.strip() or 0) / 1024


def wait_ready(port: int, timeout: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/")
            if conn.getresponse().status == 200:
                return time.perf_counter() - started
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the server did not answer")


def watch(server: subprocess.Popen[bytes], warmed: threading.Event) -> None:
    """Read the server's output to its end; set ``warmed`` at its line that says so."""
    assert server.stdout is not None
    for line in server.stdout:
        if WARMED in line.decode("utf-8", "replace"):
            warmed.set()


def portal(env: dict[str, str], *args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "gridportal.cli", *args], env=env, cwd=ROOT, **kwargs
    )


def prepare(workdir: Path, cases: int | None, port: int) -> dict[str, str]:
    """An embedded portal with the demo district, and ``cases`` more if asked."""
    settings = embedded_settings(workdir, port=port, secret=SECRET)
    env = {**os.environ, **settings, "PYTHONPATH": str(ROOT / "src")}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "gridportal.demo_server", "load", str(workdir)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"  demo district loaded and built in {time.perf_counter() - started:.1f} s")
    if cases:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "gridportal.cli", "synth", str(cases), "--seed", "1"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print(f"  {cases:,} more cases written in {time.perf_counter() - started:.1f} s")
    return env


def count_cases(env: dict[str, str]) -> int:
    """The cases in the store, read from the file directly (a read-only connection)."""
    path = env["GRIDPORTAL_STORE"].removeprefix("sqlite:")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM cases").fetchone()[0])
    finally:
        conn.close()


def reconcile(env: dict[str, str], ledger: Ledger, filed_in_store: int) -> dict[str, int]:
    os.environ.update({k: v for k, v in env.items() if k.startswith("GRIDPORTAL_")})
    from gridportal.domain.credentials import normalise_tracking
    from gridportal.domain.model import Action
    from gridportal.runtime import runtime

    runtime.cache_clear()
    rt = runtime()
    missing = wrong_key = votes_doubled = votes_missing = 0
    for key, shown in ledger.receipts.items():
        tracking = normalise_tracking(shown)  # receipts show it in groups: 1234-5678-9012
        history = rt.store.get_history(tracking)
        if history is None:
            missing += 1
            continue
        earlier = rt.store.get_idempotency(rt.portal.keys.digest("idempotency", key))
        if earlier is None or earlier.tracking != tracking:
            wrong_key += 1
        rates = sum(1 for e in history.events if e.action is Action.RATE)
        if rates > 1:
            votes_doubled += 1
        if shown in ledger.votes_accepted and (rates != 1 or history.vote is None):
            votes_missing += 1
    runtime.cache_clear()
    return {
        "receipts": len(ledger.receipts),
        "missing": missing,
        # cases the store gained beyond the receipts: a retry that made a second case
        "unreceipted_cases": filed_in_store - len(ledger.receipts),
        "key_mismatch": wrong_key,
        "retry_mismatch": ledger.retry_mismatches,
        "votes": len(ledger.votes_accepted),
        # the same vote sent again gets its first answer (201) again, and counts once
        "votes_repeated": sum(1 for n in ledger.votes_accepted.values() if n > 1),
        "votes_missing": votes_missing,
        "rate_events_doubled": votes_doubled,
    }


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def one_round(
    args: argparse.Namespace, env: dict[str, str], workdir: Path, grids: list[Any]
) -> None:
    """The residents and the desk for ``--seconds``, the nightly build meanwhile; the table."""
    cases_before = count_cases(env)
    stats, ledger = Stats(), Ledger()
    until = time.time() + args.seconds
    threads = [
        threading.Thread(
            target=resident,
            args=(args.port, stats, ledger, until, args.think, n, grids),
            daemon=True,
        )
        for n in range(args.residents)
    ]
    threads.append(
        threading.Thread(target=command_centre, args=(args.port, stats, ledger, until), daemon=True)
    )
    started = time.time()
    for thread in threads:
        thread.start()
    time.sleep(min(10, args.seconds / 4))
    build_started = time.perf_counter()
    build = portal(
        env,
        "build",
        "--work-dir",
        str(workdir / "build"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own group: stopping it stops its Pagefind too
    )
    for thread in threads:
        thread.join()
    elapsed = time.time() - started  # the residents' time only: the build may run on
    print(
        f"  {args.residents} residents, {elapsed:.0f} s, think time {args.think} s;"
        f" machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"  {'route':<14}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'errors':>8}  statuses"
    )
    for route in sorted(stats.times):
        times = stats.times[route]
        statuses = ", ".join(f"{k}×{v}" for k, v in sorted(stats.statuses[route].items()))
        print(
            f"  {route:<14}{len(times):>9}{len(times) / elapsed:>8.1f}"
            f"{percentile(times, 0.5) * 1000:>9.1f}{percentile(times, 0.99) * 1000:>9.1f}"
            f"{stats.errors[route]:>8}  {statuses}"
        )
    filed = count_cases(env) - cases_before
    print("  reconciliation: " + json.dumps(reconcile(env, ledger, filed)), flush=True)
    # The build goes on after the residents (the first build over 100,000 new cases takes
    # many minutes): wait for it, or stop it after --build-wait seconds and say so.
    try:
        _, err = build.communicate(timeout=args.build_wait)
        outcome = f"exit {build.returncode}" + (
            f": {err.decode()[-300:]}" if build.returncode else ""
        )
    except subprocess.TimeoutExpired:
        os.killpg(build.pid, signal.SIGTERM)
        build.communicate()
        outcome = f"stopped after --build-wait {args.build_wait} s, unfinished"
    seconds = time.perf_counter() - build_started
    print(f"  nightly build during the run: {seconds:.1f} s, {outcome}")


def run(name: str, cases: int | None, args: argparse.Namespace) -> None:
    print(f"\n== {name} ==")
    workdir = Path(tempfile.mkdtemp(prefix="gridportal-load-"))
    server: subprocess.Popen[bytes] | None = None
    try:
        env = prepare(workdir, cases, args.port)
        launched = time.perf_counter()
        server = portal(
            env,
            "serve",
            "--port",
            str(args.port),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        warmed = threading.Event()
        threading.Thread(target=watch, args=(server, warmed), daemon=True).start()
        ready = wait_ready(args.port, 60)
        print(
            f"  server answers in {ready:.2f} s (pid {server.pid}), RSS {rss_mb(server.pid):.0f} MB"
        )
        if not warmed.wait(120):
            raise RuntimeError("the server did not finish loading what the API loads")
        before = rss_mb(server.pid)
        print(f"  warm in {time.perf_counter() - launched:.1f} s, RSS {before:.0f} MB")
        with open(ROOT / "content" / "district.json", encoding="utf-8") as handle:
            district = json.load(handle)
        grids = [
            (service["code"], grid["id"])
            for service in district["services"][:12]
            for grid in district["grids"]
        ]
        for number in range(1, args.rounds + 1):
            if args.rounds > 1:
                print(f"  -- round {number} of {args.rounds}")
            one_round(args, env, workdir, grids)
            after = rss_mb(server.pid)
            print(f"  server RSS {after:.0f} MB ({after - before:+.0f} MB since ready)")
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--think", type=float, default=0.5, help="mean pause, seconds")
    parser.add_argument("--only", choices=("demo", "100k"))
    parser.add_argument("--cases", type=int, default=100_000, help="the large data set's size")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="the local origin's port")
    parser.add_argument(
        "--build-wait", type=float, help="stop the run's build after this many seconds"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="runs one after another on one server (a soak)"
    )
    args = parser.parse_args()
    sets: Iterator[tuple[str, int | None]] = iter(
        [("demo district", None), (f"{args.cases:,} cases", args.cases)]
    )
    for name, cases in sets:
        if (args.only == "demo" and cases) or (args.only == "100k" and not cases):
            continue
        run(name, cases, args)


if __name__ == "__main__":
    main()
