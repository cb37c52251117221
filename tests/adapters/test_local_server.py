"""The local origin: the site's files, the API under /api, the headers, the limits, the log."""

from __future__ import annotations

import gzip
import http.client
import json
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import brotli
import pytest
from chalice import Chalice, Response
from playwright.sync_api import expect

from gridportal.adapters.infra_template import (
    CONTENT_SECURITY_POLICY,
    IMMUTABLE_CACHE,
    SHORT_CACHE,
)
from gridportal.adapters.local_server import (
    MAX_BODY_BYTES,
    PRECOMPRESS_FROM,
    ApiRequest,
    ApiResponse,
    BucketSite,
    CompressedCache,
    DirectorySite,
    LocalPortal,
    accepted_encodings,
    chalice_api,
    compressed_keys,
    content_type_for,
    remove_compressed,
    site_key,
    write_compressed,
)
from support.aws import SITE_BUCKET, running_aws
from support.browser import chromium

SECRET = "top-secret-outside-the-site"


def tiny_app() -> Chalice:
    app = Chalice(app_name="tiny")

    @app.route("/")
    def root() -> dict[str, str]:
        return {"at": "root"}

    @app.route("/ping")
    def ping() -> dict[str, Any]:
        request = app.current_request
        assert request is not None
        return {"answer": "pong", "query": request.query_params or {}}

    @app.route("/echo", methods=["POST"], content_types=["application/json"])
    def echo() -> dict[str, Any]:
        request = app.current_request
        assert request is not None
        return {
            "size": len(request.raw_body),
            "idempotency_key": request.headers.get("idempotency-key"),
            "authorization": request.headers.get("authorization"),
        }

    @app.route("/cases/{tracking}")
    def case(tracking: str) -> Response:
        return Response({"tracking": tracking}, headers={"Cache-Control": "max-age=600"})

    @app.route("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    return app


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / SECRET).write_text("must never be served", encoding="utf-8")
    root = tmp_path / "output"
    (root / "cases").mkdir(parents=True)
    (root / "index.html").write_text("<h1>首页</h1>", encoding="utf-8")
    # A case page, stored as the directory site stores it (directory_site.stored_name).
    (root / "cases" / "abc.html").write_text("<h1>案件</h1>", encoding="utf-8")
    (root / "theme.css").write_text("body{}", encoding="utf-8")
    (root / "404.html").write_text("<h1>找不到</h1>", encoding="utf-8")
    (root / "_state" / "months").mkdir(parents=True)  # the build's state, in the site's tree
    (root / "_state" / "months" / "2026-11.json").write_text('{"never": 1}', encoding="utf-8")
    return root


@pytest.fixture
def portal(site: Path) -> Iterator[LocalPortal]:
    with LocalPortal(site=DirectorySite(site), api=chalice_api(tiny_app())) as running:
        yield running


def request(
    portal: LocalPortal,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request with the path sent exactly as given (urllib would tidy it)."""
    host, port = portal.base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, answer.headers, answer.read()
    finally:
        connection.close()


# -- keys and types ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/", "index.html"),
        ("/cases/abc/", "cases/abc/index.html"),
        ("/theme.css", "theme.css"),
        ("/cases//abc/", "cases/abc/index.html"),
        ("//etc/passwd", "etc/passwd"),  # an absolute path stays inside the site
        ("/%E7%BD%91%E6%A0%BC/", "网格/index.html"),
        ("/../secret", None),
        ("/cases/../../secret", None),
        ("/%2e%2e/secret", None),
        ("/%2E%2E%2fsecret", None),
        ("/./index.html", None),
        ("/a\\..\\secret", None),
        ("/a%5c..%5csecret", None),
        ("/index.html%00.css", None),
        ("/%ff", None),  # not UTF-8
        ("relative", None),
    ],
)
def test_site_key(path: str, key: str | None) -> None:
    assert site_key(path) == key


@pytest.mark.parametrize(
    ("key", "content_type"),
    [
        ("index.html", "text/html; charset=utf-8"),
        ("a/app.js", "text/javascript; charset=utf-8"),
        ("data/cases.json", "application/json; charset=utf-8"),
        ("data/cases.CSV", "text/csv; charset=utf-8"),
        ("logo.svg", "image/svg+xml; charset=utf-8"),
        ("qr.png", "image/png"),
        ("font.woff2", "font/woff2"),
        ("LICENSE", "application/octet-stream"),
    ],
)
def test_content_type_for(key: str, content_type: str) -> None:
    assert content_type_for(key) == content_type


def test_directory_site_refuses_links_out_of_the_site(site: Path) -> None:
    (site / "escape.html").symlink_to(site.parent / SECRET)
    source = DirectorySite(site)
    assert source.read("escape.html") is None
    assert source.read("cases") is None  # a directory is not a file
    found = source.read("index.html")
    assert found is not None and found.body == "<h1>首页</h1>".encode()


def test_bucket_site_serves_what_was_published() -> None:
    with running_aws() as aws:
        s3 = aws.client("s3")
        s3.put_object(
            Bucket=SITE_BUCKET, Key="index.html", Body=b"<p>x</p>", ContentType="text/html"
        )
        source = BucketSite(s3, SITE_BUCKET)
        found = source.read("index.html")
        assert found is not None and (found.body, found.content_type) == (b"<p>x</p>", "text/html")
        assert source.read("missing.html") is None
        # Data files are stored gzip-encoded (s3_site.stored_encoding): read back plain.
        s3.put_object(
            Bucket=SITE_BUCKET,
            Key="data/metrics.json",
            Body=gzip.compress(b'{"cases": 1}'),
            ContentEncoding="gzip",
        )
        found = source.read("data/metrics.json")
        assert found is not None and found.body == b'{"cases": 1}'


# -- the site over HTTP ------------------------------------------------------------------


def test_serves_pages_with_type_and_security_headers(portal: LocalPortal) -> None:
    status, headers, body = request(portal, "GET", "/")
    assert (status, body.decode()) == (200, "<h1>首页</h1>")
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == SHORT_CACHE  # as the edge says (infra_template)


def test_directory_urls(portal: LocalPortal) -> None:
    assert request(portal, "GET", "/cases/abc/")[2].decode() == "<h1>案件</h1>"
    status, headers, _ = request(portal, "GET", "/cases/abc?from=qr")
    assert (status, headers["Location"]) == (301, "/cases/abc/?from=qr")
    # The page's stored name is no address of its own.
    assert request(portal, "GET", "/cases/abc.html")[0] == 404


def test_head_has_headers_and_no_body(portal: LocalPortal) -> None:
    status, headers, body = request(portal, "HEAD", "/theme.css")
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == "6"


@pytest.mark.parametrize(
    "path",
    [
        "/../" + SECRET,
        "/%2e%2e/" + SECRET,
        "/cases/%2E%2E/%2e%2e/" + SECRET,
        "/..%2f" + SECRET,
        "/..\\" + SECRET,
        "http://example.com/../" + SECRET,
    ],
)
def test_no_way_out_of_the_site(portal: LocalPortal, path: str) -> None:
    status, _, body = request(portal, "GET", path)
    assert status == 404
    assert b"never" not in body


@pytest.mark.parametrize("path", ["/_state/months/2026-11.json", "/_state/months/", "/_state"])
def test_the_builds_own_state_is_never_served(portal: LocalPortal, path: str) -> None:
    status, _, body = request(portal, "GET", path)
    assert status == 404 and b"never" not in body


def test_missing_pages_use_the_sites_404_page(portal: LocalPortal) -> None:
    status, headers, body = request(portal, "GET", "/nowhere.html")
    assert (status, body.decode()) == (404, "<h1>找不到</h1>")
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_a_site_without_404_page_gets_a_chinese_one(tmp_path: Path) -> None:
    with LocalPortal(site=DirectorySite(tmp_path), api=chalice_api(tiny_app())) as portal:
        status, headers, body = request(portal, "GET", "/nowhere")
    assert status == 404 and "页面不存在" in body.decode()
    assert headers["Content-Type"] == "text/html; charset=utf-8"


# -- compression and caching -------------------------------------------------------------

LONG_PAGE = ("<h1>办理记录</h1>" + "<p>垃圾清运 柳翠井巷社区第1网格 已办结</p>" * 60).encode()
# A month's open data: compressed by the build, not on request.
LARGE_FILE = "受理编号,网格,类别\r\n".encode() + b"".join(
    f"p{n:011d},QB-LCJX-{n % 20:02d},env-litter\r\n".encode() for n in range(3000)
)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, []),
        ("", []),
        ("gzip", ["gzip"]),
        ("gzip, deflate, br", ["br", "gzip"]),
        ("br;q=0, gzip", ["gzip"]),
        ("BR;Q=0.5,GZIP;q=1", ["br", "gzip"]),  # ours is the order; q=0 alone refuses
        ("*", ["br", "gzip"]),
        ("*;q=0, gzip", ["gzip"]),
        ("identity", []),
        ("br;q=nonsense", ["gzip"][:0]),
    ],
)
def test_accepted_encodings(header: str | None, expected: list[str]) -> None:
    assert accepted_encodings(header) == expected


def test_the_build_writes_siblings_of_large_text_files_only(tmp_path: Path) -> None:
    assert len(LONG_PAGE) < PRECOMPRESS_FROM <= len(LARGE_FILE)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cases.csv").write_bytes(LARGE_FILE)
    (tmp_path / "page.html").write_bytes(LONG_PAGE)
    (tmp_path / "page.html.br").write_bytes(b"left by an older build")
    (tmp_path / "poster.pdf").write_bytes(b"%PDF" + b"0" * PRECOMPRESS_FROM)
    keys = ["data/cases.csv", "page.html", "poster.pdf"]
    assert write_compressed(tmp_path, keys) == 2
    assert brotli.decompress((tmp_path / "data/cases.csv.br").read_bytes()) == LARGE_FILE
    assert gzip.decompress((tmp_path / "data/cases.csv.gz").read_bytes()) == LARGE_FILE
    assert not any(tmp_path.glob("page.html.*"))  # compressed on request, none left stale
    assert compressed_keys("poster.pdf") == ()
    # The same bytes every time (gzip without a time stamp): an unchanged file uploads nothing.
    first = (tmp_path / "data/cases.csv.gz").read_bytes()
    write_compressed(tmp_path, ["data/cases.csv"])
    assert (tmp_path / "data/cases.csv.gz").read_bytes() == first
    remove_compressed(tmp_path, ["data/cases.csv"])
    assert not any(tmp_path.glob("data/cases.csv.*"))


def test_many_files_are_compressed_on_every_core_to_the_same_bytes(tmp_path: Path) -> None:
    keys = [f"data/m{n}/cases.csv" for n in range(7)]
    for n, key in enumerate(keys):
        (tmp_path / key).parent.mkdir(parents=True)
        (tmp_path / key).write_bytes(LARGE_FILE + str(n).encode())
    assert write_compressed(tmp_path, keys, workers=1) == 14
    serial = {p: p.read_bytes() for p in tmp_path.rglob("*.gz")}
    serial |= {p: p.read_bytes() for p in tmp_path.rglob("*.br")}
    for path in serial:
        path.unlink()
    assert write_compressed(tmp_path, keys, workers=2, parallel_from=2) == 14
    assert {p: p.read_bytes() for p in serial} == serial


def test_a_page_goes_out_compressed_by_accept_encoding(site: Path) -> None:
    (site / "cases" / "abc.html").write_bytes(LONG_PAGE)
    with LocalPortal(site=DirectorySite(site), api=chalice_api(tiny_app())) as portal:
        status, headers, body = request(
            portal, "GET", "/cases/abc/", headers={"Accept-Encoding": "gzip, br"}
        )
        assert (status, headers["Content-Encoding"]) == (200, "br")
        assert brotli.decompress(body) == LONG_PAGE
        assert headers["Vary"] == "Accept-Encoding"
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert int(headers["Content-Length"]) == len(body) < len(LONG_PAGE) / 3

        _, headers, body = request(
            portal, "GET", "/cases/abc/", headers={"Accept-Encoding": "gzip"}
        )
        assert headers["Content-Encoding"] == "gzip" and gzip.decompress(body) == LONG_PAGE

        _, headers, body = request(portal, "GET", "/cases/abc/")
        assert "Content-Encoding" not in headers and body == LONG_PAGE
        assert headers["Vary"] == "Accept-Encoding"  # a cache must keep both apart

        # The page rewritten: it goes out as it is now, never as it was compressed before.
        (site / "cases" / "abc.html").write_bytes(LONG_PAGE + b"<p>new</p>")
        _, headers, body = request(portal, "GET", "/cases/abc/", headers={"Accept-Encoding": "br"})
        assert brotli.decompress(body) == LONG_PAGE + b"<p>new</p>"


def test_a_large_file_goes_out_from_its_fresh_siblings(site: Path) -> None:
    (site / "data").mkdir()
    data = site / "data" / "cases.csv"
    data.write_bytes(LARGE_FILE)
    with LocalPortal(site=DirectorySite(site), api=chalice_api(tiny_app())) as portal:
        # No sibling yet (the build is compressing): sent as it is, never compressed here.
        _, headers, body = request(
            portal, "GET", "/data/cases.csv", headers={"Accept-Encoding": "br"}
        )
        assert "Content-Encoding" not in headers and body == LARGE_FILE
        write_compressed(site, ["data/cases.csv"])
        _, headers, body = request(
            portal, "GET", "/data/cases.csv", headers={"Accept-Encoding": "br"}
        )
        assert headers["Content-Encoding"] == "br" and brotli.decompress(body) == LARGE_FILE
        # The file rewritten after its siblings: the stale siblings are never sent.
        data.write_bytes(LARGE_FILE + b"new\r\n")
        for suffix in (".br", ".gz"):
            sibling = site / "data" / f"cases.csv{suffix}"
            os.utime(sibling, (data.stat().st_mtime - 10,) * 2)
        _, headers, body = request(
            portal, "GET", "/data/cases.csv", headers={"Accept-Encoding": "br"}
        )
        assert "Content-Encoding" not in headers and body.endswith(b"new\r\n")


def test_the_cache_of_compressed_pages_stays_within_its_bytes() -> None:
    cache = CompressedCache(limit=3_000)
    pages = [LONG_PAGE + str(n).encode() for n in range(20)]
    for page in pages:
        assert brotli.decompress(cache.get("br", page)) == page
        assert cache.size <= 3_000
    assert cache.get("gzip", pages[-1]) == cache.get("gzip", pages[-1])  # kept, the same bytes


def test_fingerprinted_assets_are_immutable_and_the_rest_short_cached(site: Path) -> None:
    (site / "theme" / "css").mkdir(parents=True)
    (site / "theme" / "css" / "portal.0123456789.css").write_text("body{}", encoding="utf-8")
    (site / "theme" / "css" / "portal.css").write_text("body{}", encoding="utf-8")
    with LocalPortal(site=DirectorySite(site), api=chalice_api(tiny_app())) as portal:
        headers = request(portal, "GET", "/theme/css/portal.0123456789.css")[1]
        assert headers["Cache-Control"] == IMMUTABLE_CACHE
        assert request(portal, "GET", "/theme/css/portal.css")[1]["Cache-Control"] == SHORT_CACHE
        assert request(portal, "GET", "/")[1]["Cache-Control"] == SHORT_CACHE
        status, headers, _ = request(portal, "GET", "/nowhere/")
        assert (status, headers["Cache-Control"]) == (404, "no-cache")


def test_the_site_is_read_only(portal: LocalPortal) -> None:
    status, headers, _ = request(portal, "POST", "/index.html", body=b"x")
    assert (status, headers["Allow"]) == (405, "GET, HEAD")


def test_serves_the_published_bucket(tmp_path: Path) -> None:
    with running_aws() as aws:
        s3 = aws.client("s3")
        s3.put_object(
            Bucket=SITE_BUCKET,
            Key="cases/abc/index.html",
            Body="<h1>案件</h1>".encode(),
            ContentType="text/html; charset=utf-8",
        )
        site = BucketSite(s3, SITE_BUCKET)
        with LocalPortal(site=site, api=chalice_api(tiny_app())) as portal:
            status, headers, body = request(portal, "GET", "/cases/abc/")
            assert (status, body.decode()) == (200, "<h1>案件</h1>")
            assert headers["Content-Type"] == "text/html; charset=utf-8"
            assert request(portal, "GET", "/cases/abc")[0] == 301
            assert request(portal, "GET", "/cases/zzz/")[0] == 404


# -- the API over HTTP -------------------------------------------------------------------


def test_api_goes_to_the_chalice_app_without_prefix(portal: LocalPortal) -> None:
    status, headers, body = request(portal, "GET", "/api/ping?page=2")
    assert status == 200
    assert json.loads(body) == {"answer": "pong", "query": {"page": "2"}}
    assert headers["Cache-Control"] == "no-store"
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert json.loads(request(portal, "GET", "/api")[2]) == {"at": "root"}
    assert json.loads(request(portal, "GET", "/api/cases/x1y2")[2]) == {"tracking": "x1y2"}


def test_the_edge_headers_win_over_the_apps(portal: LocalPortal) -> None:
    _, headers, _ = request(portal, "GET", "/api/cases/x1y2")
    assert headers.get_all("Cache-Control") == ["no-store"]


def test_forwards_body_and_headers(portal: LocalPortal) -> None:
    status, _, body = request(
        portal,
        "POST",
        "/api/echo",
        body=json.dumps({"x": "网格"}).encode(),
        headers={
            "Content-Type": "application/json",
            "Idempotency-Key": "0f8fad5b-d9cb-469f-a165-70867728950e",
            "Authorization": "Bearer abc",
        },
    )
    assert status == 200
    assert json.loads(body) == {
        "size": len(json.dumps({"x": "网格"})),
        "idempotency_key": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "authorization": "Bearer abc",
    }


def test_unknown_api_routes_answer_like_api_gateway(portal: LocalPortal) -> None:
    status, headers, body = request(portal, "GET", "/api/nowhere")
    assert status == 403 and json.loads(body) == {"message": "Missing Authentication Token"}
    assert headers["Cache-Control"] == "no-store"


def test_a_failing_view_is_a_500_from_chalice(portal: LocalPortal) -> None:
    status, _, _ = request(portal, "GET", "/api/boom")
    assert status == 500


def test_a_failing_handler_is_a_json_500(site: Path) -> None:
    def broken(_: ApiRequest) -> ApiResponse:
        raise RuntimeError("the handler itself broke")

    with LocalPortal(site=DirectorySite(site), api=broken) as portal:
        status, headers, body = request(portal, "GET", "/api/anything")
    assert status == 500
    assert json.loads(body)["error"]["code"] == "internal_error"
    assert headers["Cache-Control"] == "no-store"


def test_any_handler_can_stand_behind_api(site: Path) -> None:
    seen: list[ApiRequest] = []

    def handler(api_request: ApiRequest) -> ApiResponse:
        seen.append(api_request)
        return ApiResponse(201, (("Content-Type", "application/json"),), b"{}")

    with LocalPortal(site=DirectorySite(site), api=handler) as portal:
        status, _, _ = request(portal, "PUT", "/api/a/b?c=d", body=b"{}")
    assert status == 201
    assert (seen[0].method, seen[0].path, seen[0].body) == ("PUT", "/a/b?c=d", b"{}")


# -- body limits -------------------------------------------------------------------------


def test_a_body_at_the_limit_is_read(portal: LocalPortal) -> None:
    body = b'"' + b"x" * (MAX_BODY_BYTES - 2) + b'"'
    status, _, answer = request(
        portal, "POST", "/api/echo", body=body, headers={"Content-Type": "application/json"}
    )
    assert status == 200 and json.loads(answer)["size"] == MAX_BODY_BYTES


def test_a_body_over_the_limit_is_refused(portal: LocalPortal) -> None:
    body = b"x" * (MAX_BODY_BYTES + 1)
    status, headers, answer = request(
        portal, "POST", "/api/echo", body=body, headers={"Content-Type": "application/json"}
    )
    assert status == 413
    assert json.loads(answer)["error"]["code"] == "payload_too_large"
    assert headers["Connection"] == "close"


def raw_exchange(portal: LocalPortal, head: bytes, body: bytes = b"") -> bytes:
    host, port = portal.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(head + body)
        received = b""
        while chunk := raw.recv(65536):
            received += chunk
        return received


def test_a_huge_declared_body_is_refused_before_it_is_sent(portal: LocalPortal) -> None:
    # Only a few bytes of the declared gigabyte ever arrive: the answer cannot wait for it.
    head = (
        b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000000\r\n\r\n"
    )
    answer = raw_exchange(portal, head, b"x" * 100)
    assert answer.startswith(b"HTTP/1.1 413 ")


def test_expect_continue_is_refused_without_the_body(portal: LocalPortal) -> None:
    head = (
        b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000\r\nExpect: 100-continue\r\n\r\n"
    )
    answer = raw_exchange(portal, head)
    assert answer.startswith(b"HTTP/1.1 413 ") and b"100 Continue" not in answer


def test_a_chunked_body_is_refused(portal: LocalPortal) -> None:
    head = b"POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert raw_exchange(portal, head, b"5\r\nhello\r\n0\r\n\r\n").startswith(b"HTTP/1.1 411 ")


# -- log, threads, life cycle ------------------------------------------------------------


def test_logs_one_line_per_request_without_queries_or_bodies(
    portal: LocalPortal, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="gridportal.adapters.local_server"):
        request(
            portal,
            "POST",
            "/api/echo?code=LOOKUPCODE",
            body=b'{"token": "VOTETOKEN"}',
            headers={"Content-Type": "application/json"},
        )
        request(portal, "GET", "/theme.css?v=QUERYVALUE")
    lines = [r.getMessage() for r in caplog.records if r.name.endswith("local_server")]
    assert len(lines) == 2
    assert lines[0].startswith("POST /api/echo 200 ")
    assert lines[1].startswith("GET /theme.css 200 ")
    for secret in ("LOOKUPCODE", "VOTETOKEN", "QUERYVALUE"):
        assert secret not in caplog.text


def test_concurrent_requests_keep_their_own_chalice_request(portal: LocalPortal) -> None:
    # Chalice keeps the current request on the app object; answers must not get mixed up.
    answers: dict[int, Any] = {}

    def ask(n: int) -> None:
        answers[n] = json.loads(request(portal, "GET", f"/api/ping?n={n}")[2])

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(answers[n]["query"] == {"n": str(n)} for n in range(20))


def test_stops_cleanly(site: Path) -> None:
    portal = LocalPortal(site=DirectorySite(site), api=chalice_api(tiny_app()))
    base_url = portal.start()
    assert base_url.startswith("http://127.0.0.1:")
    portal.stop()
    portal.stop()
    host, port = base_url.removeprefix("http://").split(":")
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=2).close()
    with pytest.raises(RuntimeError):
        portal.base_url  # noqa: B018 - not running any more


# -- in a real browser -------------------------------------------------------------------

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>测试</title>
<script src="/app.js" defer></script></head>
<body>
<button id="ask" type="button">查询</button><output id="answer">尚未查询</output>
<p id="inline">内联脚本未运行</p>
<script>document.getElementById('inline').textContent = '内联脚本运行了';</script>
</body></html>
"""

SCRIPT = """
document.getElementById('ask').addEventListener('click', async () => {
  const response = await fetch('/api/ping?from=browser');
  const data = await response.json();
  document.getElementById('answer').textContent = data.answer + ' ' + data.query.from;
});
"""


@pytest.mark.browser
def test_a_page_calls_the_api_on_the_same_origin_in_chromium(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text(PAGE, encoding="utf-8")
    (tmp_path / "app.js").write_text(SCRIPT, encoding="utf-8")
    with (
        LocalPortal(site=DirectorySite(tmp_path), api=chalice_api(tiny_app())) as portal,
        chromium() as browser,
    ):
        page = browser.new_page()
        violations: list[str] = []
        page.on("console", lambda message: violations.append(message.text))
        page.goto(portal.base_url + "/")
        page.click("#ask")
        # A locator assertion, not wait_for_function: the page's CSP forbids the eval that
        # Playwright's function polling relies on.
        expect(page.locator("#answer")).to_have_text("pong browser", timeout=10_000)
        # The Content-Security-Policy let the page's own script run and stopped the inline one.
        assert page.text_content("#inline") == "内联脚本未运行"
        assert any("Content Security Policy" in text for text in violations)


# Password hashes (19 MiB of working memory each) in new threads, four at a time, as staff
# logins arrive on the server's threads: the memory after three rounds, less that after one.
_HASHES_IN_THREADS = """
import sys, threading
from gridportal.adapters.local_server import give_back_large_blocks
from gridportal.domain.credentials import hash_password

tuned = "tuned" in sys.argv and give_back_large_blocks()

def rss_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))

def round_of_logins():
    threads = [threading.Thread(target=hash_password, args=("pw",)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

round_of_logins()
first = rss_kib()
for _ in range(3):
    round_of_logins()
print(tuned, rss_kib() - first)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")
def test_freed_password_hash_memory_goes_back_to_the_system() -> None:
    def growth(*argv: str) -> tuple[str, int]:
        done = subprocess.run(
            [sys.executable, "-c", _HASHES_IN_THREADS, *argv],
            capture_output=True,
            text=True,
            check=True,
        )
        tuned, kib = done.stdout.split()
        return tuned, int(kib)

    tuned, kib = growth("tuned")
    if tuned != "True":
        pytest.skip("this C library has no mallopt (not glibc)")
    assert kib < 19 * 1024, f"{kib} KiB kept after freed hashes"
