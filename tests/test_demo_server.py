"""The embedded portal as a process: ``portal serve`` on SQLite and a site directory.

These tests start the real server in its own process, as ``make demo`` does, and talk to
it over loopback. The crash test kills it with SIGKILL in the middle of a burst of filings:
every complaint it acknowledged must be there after a restart, and clients that retry with
the same Idempotency-Key must get the same case, never a second one.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from gridportal.demo import wording
from gridportal.demo_server import WARMED, _demo_staff, _stop_on_sigterm, embedded_settings
from gridportal.domain.credentials import normalise_tracking
from gridportal.domain.model import Contact
from gridportal.domain.redaction import KnownPeople, case_scrubber, public_data, redact
from gridportal.domain.reference import District

ROOT = Path(__file__).resolve().parents[1]
BODY = {
    "category": "env-litter",
    "grid": "QB-LCJX-01",
    "location": "3号楼东侧",
    "description": "垃圾桶满了三天没人清运。",
    "phone": "13800138000",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``portal serve`` in a process group of its own, on a port of its own."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            **embedded_settings(root, port=self.port, secret="crash-test-secret"),
            "PYTHONPATH": str(ROOT / "src"),
        }
        self.process: subprocess.Popen[bytes] | None = None
        root.mkdir(parents=True, exist_ok=True)
        self.output = root / "server.out"
        self.errors = root / "server.err"

    def start(self) -> None:
        with self.output.open("ab") as output, self.errors.open("ab") as errors:
            self.process = subprocess.Popen(  # the child keeps its own copies of the files
                [sys.executable, "-m", "gridportal.cli", "serve", "--port", str(self.port)],
                env=self.env,
                cwd=ROOT,
                stdout=output,
                stderr=errors,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                status, _ = self.request("GET", "/", None, {}, timeout=1)
                if status:
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the server did not start")

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
            self.process = None

    def request(
        self, method: str, path: str, body: Any, headers: dict[str, str], timeout: float = 10
    ) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(
                method, path, body=data, headers={"Content-Type": "application/json", **headers}
            )
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, raw

    def file(self, key: str) -> tuple[int, Any]:
        return self.request("POST", "/api/complaints", BODY, {"Idempotency-Key": key})


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "portal")
    running.start()
    try:
        yield running
    finally:
        running.stop()


def test_sigterm_stops_the_server_cleanly(tmp_path: Path) -> None:
    """``kill`` (or systemd stopping ``portal serve``) stops it as Ctrl-C does: the
    server closes and says so, with no traceback, even when the signal comes twice
    (``make demo`` passes its own SIGTERM on to the server)."""
    server = Server(tmp_path / "portal")
    server.start()
    assert server.process is not None
    os.killpg(server.process.pid, signal.SIGTERM)
    os.killpg(server.process.pid, signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0
    errors = server.errors.read_text(encoding="utf-8")
    assert "Traceback" not in errors and "Aborted" not in errors
    assert "已停止" in server.output.read_text(encoding="utf-8")


def test_a_site_in_the_older_layout_is_served_from_the_first_request(tmp_path: Path) -> None:
    """A case page written as cases/<id>/index.html, before a site directory stored it
    as cases/<id>.html: the origin moves it when it starts, not at the next build."""
    page = tmp_path / "portal" / "site" / "cases" / "a1b2c3d4e5f6" / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text("<h1>案件</h1>", encoding="utf-8")
    server = Server(tmp_path / "portal")
    server.start()
    try:
        assert server.request("GET", "/cases/a1b2c3d4e5f6/", None, {}) == (
            200,
            "<h1>案件</h1>".encode(),
        )
    finally:
        server.stop()


def test_a_stop_signal_is_taken_once() -> None:
    """A second SIGTERM (or Ctrl-C) while the server stops would break off the stop
    with a traceback: once the first arrived, both are ignored."""
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(KeyboardInterrupt):
            _stop_on_sigterm(signal.SIGTERM, None)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, before[0])
        signal.signal(signal.SIGINT, before[1])


@pytest.mark.slow
def test_a_sigkill_mid_burst_loses_no_acknowledged_complaint_and_doubles_none(
    server: Server,
) -> None:
    acknowledged: dict[str, str] = {}  # Idempotency-Key -> tracking number
    attempted: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def resident(n: int) -> None:
        count = 0
        while not stop.is_set():
            key = f"crash-{n:02d}-{count:05d}"
            count += 1
            with lock:
                attempted.append(key)
            try:
                status, answer = server.file(key)
            except (OSError, http.client.HTTPException):
                return  # the server went away mid-request: this one is unacknowledged
            if status == 201:
                with lock:
                    acknowledged[key] = answer["tracking"]

    threads = [threading.Thread(target=resident, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill()  # in the middle of the burst: requests are in flight right now
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert len(acknowledged) >= 40

    server.start()
    # Every client retries everything it sent, acknowledged or not, with the same key.
    retried: dict[str, str] = {}
    for key in attempted:
        status, answer = server.file(key)
        assert status == 201, (key, answer)
        retried[key] = answer["tracking"]
    for key, tracking in acknowledged.items():
        assert retried[key] == tracking, f"{key} got a second case after the restart"

    from gridportal.adapters.sqlite import SqliteStore

    store = SqliteStore(Path(server.env["GRIDPORTAL_STORE"].removeprefix("sqlite:")))
    stored = [record.tracking for record, _ in store.all_histories()]
    assert len(stored) == len(set(stored)) == len(set(retried.values())) == len(attempted)
    assert set(stored) == {normalise_tracking(t) for t in retried.values()}


def test_serve_answers_the_api_and_the_site_from_the_directory(server: Server) -> None:
    site = Path(server.env["GRIDPORTAL_SITE_DIR"])
    (site / "index.html").write_text("<!doctype html><title>首页</title>", encoding="utf-8")
    status, body = server.request("GET", "/", None, {})
    assert status == 200 and "首页" in body.decode()
    status, answer = server.file("serve-test-0001")
    assert status == 201 and len(normalise_tracking(answer["tracking"])) == 12
    status, view = server.request(
        "POST",
        "/api/cases/lookup",
        {"tracking": answer["tracking"], "code": answer["lookup_code"]},
        {},
    )
    assert status == 200 and view["status"] == "received"


@pytest.mark.slow
def test_serve_loads_what_the_api_loads_lazily_once_it_answers(server: Server) -> None:
    deadline = time.monotonic() + 120
    while WARMED not in server.output.read_text(encoding="utf-8"):
        assert time.monotonic() < deadline, server.output.read_text(encoding="utf-8")
        time.sleep(0.1)


# What the API does after the server's warm-up, in a fresh interpreter: the modules it
# loads then are those it would load in the middle of a resident's request.
_AFTER_WARM = """
import json, sys
from gridportal.adapters.local_server import ApiRequest, chalice_api
from gridportal.demo_server import _chalice_app, warm_api
from gridportal.domain.model import Role
from gridportal.runtime import runtime

portal = runtime().portal
portal.add_staff("dispatch-01", "派单员", Role.DISPATCHER, None, "correct horse battery")
api = chalice_api(_chalice_app())

def call(method, path, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    sent = {"Content-Type": "application/json", **(headers or {})}
    answer = api(ApiRequest(method, path, sent, data))
    return answer.status, json.loads(answer.body or b"null")

call("GET", "/no-such-route")  # the gateway's own machinery, before the count
warm_api()
before = set(sys.modules)
statuses = []
status, receipt = call("POST", "/complaints", BODY, {"Idempotency-Key": "warm-test-0001"})
statuses.append(status)
tracking, code = receipt["tracking"], receipt["lookup_code"]
status, login = call(
    "POST", "/staff/login", {"username": "dispatch-01", "password": "correct horse battery"}
)
statuses.append(status)
auth = {"Authorization": "Bearer " + login["token"]}
note = "已通知物业王建国（Wang Jianguo）当日清理，李师傅已到场。"
for method, path, body, headers in [
    ("GET", "/staff/queue", None, auth),
    ("POST", f"/staff/cases/{tracking}/actions", {"action": "answer", "public_note": note}, auth),
    ("GET", f"/staff/cases/{tracking}", None, auth),
    ("POST", "/cases/lookup", {"tracking": tracking, "code": code}, None),
    ("POST", "/cases/vote", {"tracking": tracking, "token": receipt["vote_token"],
                             "rating": "satisfied"}, None),
]:
    statuses.append(call(method, path, body, headers)[0])
print(json.dumps({"statuses": statuses, "loaded": sorted(set(sys.modules) - before)}))
"""


@pytest.mark.slow
def test_after_the_warm_up_no_request_loads_a_module(tmp_path: Path) -> None:
    env = {
        **os.environ,
        **embedded_settings(tmp_path / "portal", port=1, secret="warm-test-secret"),
        "PYTHONPATH": str(ROOT / "src"),
    }
    script = f"BODY = {BODY!r}\n{_AFTER_WARM}"
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    answer = json.loads(done.stdout.decode().splitlines()[-1])
    assert answer["statuses"] == [201, 200, 200, 200, 200, 200, 201]
    assert answer["loaded"] == []


def test_demo_staff_are_named_as_people_so_notes_keep_their_role_words(
    district: District,
) -> None:
    """Staff names are private and removed from published text: a role title given as a
    display name (督查员) was removed wherever a note used the word."""
    staff = _demo_staff(SimpleNamespace(portal=SimpleNamespace(district=district)))
    names = {member.username: member.display_name for member in staff}
    assert len(staff) == 3 + len(district.departments) + len(district.grids)
    for name in names.values():
        assert 2 <= len(name) <= 3 and not name.endswith(("员", "人")), name
    public = public_data(district)
    grid = district.grids[0]
    assert names[f"{grid.id}-worker"] in {m.name for m in grid.team}  # on its bulletin
    # With every demo account acting on a case, the demo's wording keeps every word.
    known = KnownPeople.of_contact(Contact(), staff=names.values(), public=public)
    scrub = case_scrubber(known, public)
    lost = [text for text in wording(district) if scrub(text) != redact(text, public)]
    assert lost == []
