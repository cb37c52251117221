"""One local origin (本地站点): the built site at ``/`` and the API at ``/api``, as on AWS.

On AWS, CloudFront serves the site bucket and forwards ``/api/*`` to API Gateway, adding the
security headers (infra_template.py). This server does the same on one machine so that the
pages' ``fetch('/api/...')`` calls, the Content-Security-Policy and the cookies-free,
same-origin design are exercised exactly as in production:

- ``/api/...`` loses its ``/api`` prefix and goes to an ``ApiHandler``; ``chalice_api(app)``
  makes one from a Chalice app through Chalice's own API Gateway emulation.
- everything else is a file of the built site, read from a ``SiteSource``: a directory
  (``DirectorySite``) or, as CloudFront does, the site bucket (``BucketSite``).
- text files go out compressed when the client accepts it, as CloudFront compresses them,
  with ``Vary: Accept-Encoding``: a page (under ``PRECOMPRESS_FROM``) compressed when
  asked for and kept in a bounded cache by its content, a large file (a month's open data)
  from the ``.br`` / ``.gz`` siblings the build writes beside it (``write_compressed``). A
  sibling older than its file is ignored, so nothing is served from a stale copy while a
  build is under way.
- ``Cache-Control`` follows the edge (``infra_template.cache_control_for``): a year and
  ``immutable`` for fingerprinted CSS and JS, five minutes for the rest. A missing page is
  the site's own styled ``404.html`` with status 404.

Request bodies and query strings are never logged: they carry lookup codes and vote tokens.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import logging
import os
import posixpath
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlsplit

from gridportal.adapters.directory_site import file_of, prune_empty_dirs, stored_name
from gridportal.adapters.infra_template import (
    API_HEADERS,
    SECURITY_HEADERS,
    STATE_PREFIX,
    cache_control_for,
)

logger = logging.getLogger(__name__)

API_PREFIX = "/api"
MAX_BODY_BYTES = 64 * 1024
_DISCARD_LIMIT = 1024 * 1024  # of an oversized body, read and dropped after the 413
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000

# One table for local files and for the publisher's uploads, so both agree on every type.
_TEXT_TYPES = {
    ".html": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".geojson": "application/geo+json",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain",
    ".csv": "text/csv",
    ".xml": "application/xml",
    ".svg": "image/svg+xml",
    ".md": "text/markdown",
}
_BINARY_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/x-icon",
    ".pdf": "application/pdf",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".zip": "application/zip",
    ".gz": "application/gzip",
}


def content_type_for(key: str) -> str:
    """The Content-Type of a site file by its name; text types carry ``charset=utf-8``."""
    extension = posixpath.splitext(key.lower())[1]
    if extension in _TEXT_TYPES:
        return f"{_TEXT_TYPES[extension]}; charset=utf-8"
    return _BINARY_TYPES.get(extension, "application/octet-stream")


# -- pre-compressed siblings (预压缩) ------------------------------------------------------

# Content-Encoding → the sibling's suffix, best first: Brotli is 15–20% smaller than gzip
# on the portal's Chinese HTML, and every current browser sends "br" over HTTPS and to
# localhost. Files smaller than a packet gain nothing from compression.
ENCODINGS: tuple[tuple[str, str], ...] = (("br", ".br"), ("gzip", ".gz"))
MIN_COMPRESS_BYTES = 512
# Brotli's quality 5: about 1 ms for a case page and 10 ms for a month's JSON on the
# development machine, 15% smaller than gzip -9; quality 11 saves another 15% on pages but
# costs 25 ms a page and seconds for a month's JSON, too slow for a full build's 2,000 files.
BROTLI_QUALITY = 5


def compressible(key: str) -> bool:
    """Text files only: images, PDFs and archives are compressed already."""
    return posixpath.splitext(key.lower())[1] in _TEXT_TYPES


def compressed_keys(key: str) -> tuple[str, ...]:
    """The sibling keys a build may write for ``key`` (none for a non-text file)."""
    return tuple(key + suffix for _, suffix in ENCODINGS) if compressible(key) else ()


def compress(data: bytes, encoding: str) -> bytes:
    """``data`` in one ``Content-Encoding``; the same input always gives the same bytes."""
    if encoding == "gzip":
        return gzip.compress(data, compresslevel=9, mtime=0)
    if encoding == "br":
        import brotli

        return bytes(brotli.compress(data, quality=BROTLI_QUALITY))
    raise ValueError(f"unknown encoding {encoding!r}")


# A night that publishes at least this many text files compresses them on every core (a
# full build of 100,000 cases spent 79 s here on one); fewer do not pay for the pool.
PARALLEL_FROM = 2_000
# Text files from this size up (a month's open data: megabytes) are compressed once, by
# the build, into siblings; smaller ones (pages) when first asked for, kept in a cache. A
# page compresses in about 0.2 ms, while writing two siblings for each of 100,000 case
# pages, most of them never read, took a full build 40-50 s on 2 cores.
PRECOMPRESS_FROM = 64 * 1024
COMPRESSED_CACHE_BYTES = 16 * 1024 * 1024


class CompressedCache:
    """Bodies compressed on request, by content (a page rewritten is compressed anew), the
    least recently sent dropped first once they pass ``limit`` bytes."""

    def __init__(self, limit: int = COMPRESSED_CACHE_BYTES) -> None:
        self.limit = limit
        self.size = 0
        self._items: OrderedDict[tuple[str, bytes], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, encoding: str, body: bytes) -> bytes:
        ident = (encoding, hashlib.blake2b(body, digest_size=16).digest())
        with self._lock:
            packed = self._items.get(ident)
            if packed is not None:
                self._items.move_to_end(ident)
                return packed
        packed = compress(body, encoding)  # outside the lock: threads compress side by side
        with self._lock:
            if ident not in self._items:
                self._items[ident] = packed
                self.size += len(packed)
                while self.size > self.limit:
                    self.size -= len(self._items.popitem(last=False)[1])
        return packed


def write_compressed(
    root: Path,
    keys: Iterable[str],
    workers: int | None = None,
    parallel_from: int = PARALLEL_FROM,
) -> int:
    """Write the ``.br`` and ``.gz`` siblings of the text files ``keys`` under ``root``
    that are ``PRECOMPRESS_FROM`` bytes or more (smaller ones the origin compresses when
    asked).

    Siblings that would not be smaller than their file, and those of files gone or
    compressed on request, are removed rather than left stale. Returns the number of
    siblings written.
    Each file is its own job, so the work splits across ``workers`` processes (default:
    the cores) when there are many.
    """
    texts = [key for key in keys if compressible(key)]
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if workers <= 1 or len(texts) < parallel_from:
        return _write_compressed(root, texts)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        parts = [texts[i::workers] for i in range(workers)]
        return sum(pool.map(_write_compressed, [root] * workers, parts))


def _write_compressed(root: Path, keys: list[str]) -> int:
    written = 0
    for key in keys:
        path = root / stored_name(key)
        try:
            large = path.stat().st_size >= PRECOMPRESS_FROM
        except FileNotFoundError:
            large = False
        data = path.read_bytes() if large else b""
        for encoding, suffix in ENCODINGS:
            sibling = root / stored_name(key + suffix)
            packed = compress(data, encoding) if large else b""
            if not packed or len(packed) >= len(data):
                sibling.unlink(missing_ok=True)
                continue
            temporary = sibling.with_name(f".{sibling.name}.tmp")
            temporary.write_bytes(packed)
            os.replace(temporary, sibling)
            written += 1
    return written


def remove_compressed(root: Path, keys: Iterable[str]) -> None:
    """Remove the siblings of deleted files, and the directories they leave empty."""
    top = root.resolve()
    for key in keys:
        for sibling in compressed_keys(key):
            (root / stored_name(sibling)).unlink(missing_ok=True)
        prune_empty_dirs((root / stored_name(key)).resolve().parent, top)


def accepted_encodings(header: str | None) -> list[str]:
    """The encodings of ``ENCODINGS`` an ``Accept-Encoding`` header allows, in our order.

    A coding with ``q=0`` is refused; ``*`` stands for every coding not named.
    """
    weights: dict[str, float] = {}
    for part in (header or "").split(","):
        name, _, parameters = part.strip().partition(";")
        name = name.strip().lower()
        if not name:
            continue
        weight = 1.0
        for parameter in parameters.split(";"):
            label, _, value = parameter.strip().partition("=")
            if label.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[name] = weight
    wildcard = weights.get("*", 0.0)
    return [name for name, _ in ENCODINGS if weights.get(name, wildcard) > 0]


# -- the API side ------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str  # below /api, with its query string: "/cases/lookup", "/grids?page=2"
    headers: Mapping[str, str]
    body: bytes | None


@dataclass(frozen=True)
class ApiResponse:
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


ApiHandler = Callable[[ApiRequest], ApiResponse]


def json_error(status: int, code: str, message: str) -> ApiResponse:
    """An error in the API's own shape: {"error": {"code", "message"}}."""
    body = json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=False)
    return ApiResponse(
        status, (("Content-Type", "application/json; charset=utf-8"),), body.encode("utf-8")
    )


def chalice_api(app: Any, *, stage: str = "dev") -> ApiHandler:
    """An ``ApiHandler`` running a Chalice app as API Gateway and Lambda would.

    Chalice keeps the current request on the app object. An app that keeps it per thread
    (its ``current_request`` is a property, as the portal's is) is called from many
    threads at once; any other app is called one request at a time.
    """
    from chalice.config import Config
    from chalice.local import LocalGateway, LocalGatewayException

    gateway = LocalGateway(app, Config.create(chalice_stage=stage, chalice_app=app))
    per_thread = isinstance(getattr(type(app), "current_request", None), property)
    lock: contextlib.AbstractContextManager[Any] = (
        contextlib.nullcontext() if per_thread else threading.Lock()
    )

    def handle(request: ApiRequest) -> ApiResponse:
        with lock:
            try:
                result = gateway.handle_request(
                    method=request.method,
                    path=request.path,
                    headers=dict(request.headers),
                    body=request.body,
                )
            except LocalGatewayException as error:  # no route, authorizer said no
                headers = tuple((str(k), str(v)) for k, v in error.headers.items())
                headers += (("Content-Type", "application/json"),)
                return ApiResponse(error.CODE, headers, error.body or b"")
        return _from_lambda_proxy(result)

    return handle


def _from_lambda_proxy(result: Mapping[str, Any]) -> ApiResponse:
    headers: list[tuple[str, str]] = [
        (str(name), str(value)) for name, value in (result.get("headers") or {}).items()
    ]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(value)) for value in values)
    body = result.get("body") or b""
    if result.get("isBase64Encoded"):
        import base64

        body = base64.b64decode(body)
    elif isinstance(body, str):
        body = body.encode("utf-8")
    return ApiResponse(int(result["statusCode"]), tuple(headers), body)


# -- the site side -----------------------------------------------------------------------


@dataclass(frozen=True)
class SiteFile:
    body: bytes
    content_type: str = field(default="")  # empty: decided by the file name
    modified: float | None = None  # seconds since the epoch, when the source knows it


class SiteSource(Protocol):
    def read(self, key: str) -> SiteFile | None:
        """The file at ``key`` (a clean relative path such as "cases/index.html"), or None."""
        ...


class DirectorySite:
    """The built site in a local directory, as ``directory_site.DirectorySite`` writes it
    (a case page ``cases/<id>/index.html`` stored as ``cases/<id>.html``)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def read(self, key: str) -> SiteFile | None:
        stored = file_of(key)
        if stored is None:
            return None  # cases/<x>.html: a page's stored name, served as /cases/<x>/ only
        path = (self.root / stored).resolve()
        # resolve() follows symbolic links: a link out of the site is refused like "..".
        if not path.is_relative_to(self.root) or not path.is_file():
            return None
        return SiteFile(path.read_bytes(), modified=path.stat().st_mtime)

    def __repr__(self) -> str:
        return f"DirectorySite({str(self.root)!r})"


class BucketSite:
    """The published site in an S3 bucket, served with the Content-Type it was stored with."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def read(self, key: str) -> SiteFile | None:
        from botocore.exceptions import ClientError

        try:
            stored = self._s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
                return None
            raise
        modified = stored.get("LastModified")
        body = stored["Body"].read()
        if stored.get("ContentEncoding") == "gzip":  # data files (s3_site.stored_encoding)
            # Decoded, as a directory site's file: compressed on request below
            # PRECOMPRESS_FROM; larger ones go out plain, as a bucket has no compressed
            # siblings (CloudFront sends the stored gzip instead).
            body = gzip.decompress(body)
        return SiteFile(
            body,
            stored.get("ContentType") or "",
            modified.timestamp() if modified is not None else None,
        )

    def __repr__(self) -> str:
        return f"BucketSite({self.bucket!r})"


def site_key(path: str) -> str | None:
    """The site key for a URL path ("/a/b/" -> "a/b/index.html"), None if it is not safe.

    ``path`` is the raw (percent-encoded) path without its query. Dot segments, encoded
    or not, back-slashes and NUL are refused rather than normalised away.
    """
    try:
        decoded = unquote(path, errors="strict")
    except UnicodeDecodeError:
        return None
    if not decoded.startswith("/") or "\\" in decoded or "\x00" in decoded:
        return None
    segments = [segment for segment in decoded.split("/") if segment]
    if any(segment in {".", ".."} for segment in segments):
        return None
    if decoded.endswith("/"):
        segments.append("index.html")
    return "/".join(segments)


NOT_FOUND_KEY = "404.html"
# Only for a site that has no 404.html of its own (the build renders a styled one).
_NOT_FOUND_PAGE = (
    '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
    "<title>页面不存在</title></head><body><h1>页面不存在</h1>"
    '<p>您要找的页面不存在或已移动。<a href="/">返回首页</a></p></body></html>'
).encode()


# -- the server --------------------------------------------------------------------------


class PortalServer(ThreadingHTTPServer):
    """An HTTP server with the site and the API it serves."""

    daemon_threads = True
    # socketserver's default backlog of 5 drops connections when a few dozen phones
    # connect at once; the kernel caps this at net.core.somaxconn.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], site: SiteSource, api: ApiHandler) -> None:
        self.site = site
        self.api = api
        self.compressed = CompressedCache()
        super().__init__(address, _Handler)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: PortalServer
    protocol_version = "HTTP/1.1"  # keep-alive; every response has a Content-Length
    server_version = "gridportal-local"
    timeout = 30  # seconds a silent client may hold a thread
    # Headers and body leave in two writes; with Nagle's algorithm on, the body would wait
    # for the client's delayed ACK (about 40 ms on Linux) on every keep-alive request.
    disable_nagle_algorithm = True

    _started = 0.0
    _discard_after_reply = 0

    # -- dispatch

    def parse_request(self) -> bool:
        self._started = time.monotonic()
        return super().parse_request()

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        try:
            if _is_api(parts.path):
                self._serve_api(parts.path[len(API_PREFIX) :] or "/", parts.query)
            else:
                self._serve_site(parts.path, parts.query)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client left; nobody to answer
        except Exception:
            logger.exception("%s %s failed", self.command, parts.path)
            self._send_response(
                json_error(500, "internal_error", "服务器内部错误，请稍后再试。"), api=True
            )

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    # -- API

    def _serve_api(self, path: str, query: str) -> None:
        refusal = self._refuse_body()
        if refusal is not None:
            self._send_response(refusal, api=True)
            return
        length = int(self.headers.get("Content-Length") or 0)
        request = ApiRequest(
            method=self.command,
            path=path + (f"?{query}" if query else ""),
            headers=dict(self.headers.items()),
            body=self.rfile.read(length) if length else None,
        )
        self._send_response(self.server.api(request), api=True)

    def _refuse_body(self) -> ApiResponse | None:
        """Why the body must not be read, if it must not; checked before reading a byte."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True  # the unread body would poison the connection
            return json_error(411, "length_required", "请求须注明内容长度。")
        raw_length = (self.headers.get("Content-Length") or "0").strip()
        if not raw_length.isdigit():
            self.close_connection = True
            return json_error(400, "bad_request", "内容长度无效。")
        if int(raw_length) > MAX_BODY_BYTES:
            self.close_connection = True
            self._discard_after_reply = int(raw_length)
            return json_error(413, "payload_too_large", "提交的内容过大，请精简后再试。")
        return None

    def handle_expect_100(self) -> bool:
        # A client that asks first ("Expect: 100-continue") never sends an oversized body.
        if _is_api(urlsplit(self.path).path):
            refusal = self._refuse_body()
            if refusal is not None:
                self._discard_after_reply = 0
                self._send_response(refusal, api=True)
                return False
        return super().handle_expect_100()

    # -- site

    def _serve_site(self, path: str, query: str) -> None:
        if self.headers.get("Content-Length", "0") != "0" or self.headers.get("Transfer-Encoding"):
            # A body the site never reads must not be taken for the next request.
            self.close_connection = True
        if self.command not in {"GET", "HEAD"}:
            self._send(
                405, [("Allow", "GET, HEAD"), _text_plain()], "仅支持 GET 与 HEAD。".encode()
            )
            return
        key = site_key(path)
        if key is not None and key.startswith(STATE_PREFIX):
            key = None  # the build's own state is not published (an allowlist)
        found = self.server.site.read(key) if key is not None else None
        if found is not None and key is not None:
            content_type = found.content_type or content_type_for(key)
            headers = [("Content-Type", content_type), ("Cache-Control", cache_control_for(key))]
            body = found.body
            if compressible(key):
                headers.append(("Vary", "Accept-Encoding"))
                encoded = self._compressed(key, found)
                if encoded is not None:
                    headers.append(("Content-Encoding", encoded[0]))
                    body = encoded[1]
            self._send(200, headers, body)
            return
        # /x for the directory x: send the browser to /x/ so that relative links work.
        if key and _is_directory_like(key) and self.server.site.read(f"{key}/index.html"):
            location = "/" + quote(key) + "/" + (f"?{query}" if query else "")
            self._send(301, [("Location", location), _text_plain()], b"")
            return
        page = self.server.site.read(NOT_FOUND_KEY) or SiteFile(_NOT_FOUND_PAGE)
        content_type = page.content_type or content_type_for(NOT_FOUND_KEY)
        # The 404 page itself may change with the next build: never cache it for long.
        self._send(404, [("Content-Type", content_type), ("Cache-Control", "no-cache")], page.body)

    def _compressed(self, key: str, found: SiteFile) -> tuple[str, bytes] | None:
        """(encoding, body) in the best encoding the client accepts: compressed now (and
        cached) for a page, from a fresh sibling for a large file; None: send it as it is."""
        accepted = accepted_encodings(self.headers.get("Accept-Encoding"))
        if len(found.body) < PRECOMPRESS_FROM:
            if not accepted or len(found.body) < MIN_COMPRESS_BYTES:
                return None
            packed = self.server.compressed.get(accepted[0], found.body)
            return (accepted[0], packed) if len(packed) < len(found.body) else None
        for encoding in accepted:
            suffix = dict(ENCODINGS)[encoding]
            sibling = self.server.site.read(key + suffix)
            if sibling is None:
                continue
            if (
                found.modified is not None
                and sibling.modified is not None
                and sibling.modified < found.modified
            ):
                continue  # written before its file: a build is under way
            return encoding, sibling.body
        return None

    # -- responses

    def _send_response(self, response: ApiResponse, *, api: bool) -> None:
        self._send(response.status, list(response.headers), response.body, api=api)

    def _send(
        self, status: int, headers: list[tuple[str, str]], body: bytes, *, api: bool = False
    ) -> None:
        added = SECURITY_HEADERS + (API_HEADERS if api else ())
        # The edge's headers win over the origin's (CloudFront's policies use Override).
        replaced = {name.lower() for name, _ in added} | {"content-length", "connection"}
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in replaced:
                self.send_header(name, value)
        for name, value in added:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        if self._discard_after_reply:
            self._discard_body(self._discard_after_reply)

    def _discard_body(self, length: int) -> None:
        # Most clients send the whole body before they read the answer; swallowing a bounded
        # part of it lets them see the 413 instead of a reset connection. Nothing is kept.
        self.wfile.flush()
        remaining = min(length, _DISCARD_LIMIT)
        self.connection.settimeout(2)
        with contextlib.suppress(OSError):
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 64 * 1024))
                if not chunk:
                    break
                remaining -= len(chunk)

    # -- logging: one line per request, never a query string or a body

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urlsplit(getattr(self, "path", "") or "-").path
        elapsed = (time.monotonic() - self._started) * 1000 if self._started else 0.0
        status = int(code) if isinstance(code, int) else code  # HTTPStatus prints its name
        logger.info("%s %s %s %.0fms", getattr(self, "command", None) or "-", path, status, elapsed)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        # http.server's own messages may quote the raw request line (with its query):
        # the access line from log_request is enough.
        return


def _is_api(path: str) -> bool:
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def _is_directory_like(key: str) -> bool:
    return "." not in key.rsplit("/", 1)[-1]


def _text_plain() -> tuple[str, str]:
    return ("Content-Type", "text/plain; charset=utf-8")


# mallopt's parameter (malloc.h). glibc serves a large block from mmap and unmaps it when
# freed, but after the first such free it raises this threshold to that block's size, and
# later blocks of that size come from the thread's arena and stay there once freed. Each
# staff login's password hash (argon2, 19 MiB) then keeps 19 MiB in every arena a login
# ever ran in: up to 16 on two cores. Setting the threshold fixes it where it is.
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1024 * 1024


def give_back_large_blocks() -> bool:
    """Have the C allocator return blocks of 1 MiB and more to the system when they are
    freed, for the rest of the process; False where the C library has no ``mallopt``
    (only glibc's needs it). Call it before the server starts its threads."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the process already uses
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def make_server(
    *,
    site: SiteSource,
    api: ApiHandler,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
) -> PortalServer:
    """A bound server, not yet serving (``port=0`` picks a free port)."""
    return PortalServer((host, port), site, api)


def serve(
    *,
    site: SiteSource,
    api: ApiHandler,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
) -> None:
    """Serve in the foreground until interrupted (Ctrl-C)."""
    server = make_server(site=site, api=api, host=host, port=port)
    logger.info("portal on %s (site: %r)", server.base_url, site)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
    finally:
        server.server_close()


class LocalPortal:
    """The local origin in a background thread, for tests and the demo::

    with LocalPortal(site=DirectorySite(Path("output")), api=chalice_api(app)) as portal:
        urlopen(portal.base_url + "/api/ping")
    """

    def __init__(
        self,
        *,
        site: SiteSource,
        api: ApiHandler,
        host: str = DEFAULT_HOST,
        port: int = 0,
    ) -> None:
        self._site = site
        self._api = api
        self._host = host
        self._port = port
        self._server: PortalServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        if self._server is not None:
            raise RuntimeError("the local portal is already running")
        server = make_server(site=self._site, api=self._api, host=self._host, port=self._port)
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.1,), name="local-portal", daemon=True
        )
        self._thread.start()
        self._server = server
        logger.info("portal on %s (site: %r)", server.base_url, self._site)
        return server.base_url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()  # waits for serve_forever() to return
        server.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the local portal is not running")
        return self._server.base_url

    def __enter__(self) -> LocalPortal:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
