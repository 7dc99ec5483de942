"""A real HTTP server on loopback that implements the IGNY8 backend contract.

It implements ``shared/contract/backend-api.md`` (contract v1) closely enough
for end-to-end tests of ``igny8-agent`` and for the README's demo:

* ``GET  /api/v1/auth/me/``
* ``GET  /api/v1/auth/sites/``                         (list)
* ``GET  /api/v1/integration/integrations/``            (list, ``?site_id=&platform=``)
* ``POST /api/v1/integration/integrations/``            (create -> 201)
* ``GET  /api/v1/integration/integrations/{id}/``       (retrieve)
* ``POST /api/v1/integration/integrations/{id}/update-structure/``
* ``GET  /api/v1/integration/integrations/{id}/content-types/``

Responses follow DRF conventions (``{"detail": ...}`` errors, nested field
error dicts, ``count/next/previous/results`` pages with absolute ``next``).
Tests can switch between the envelope and bare response styles, between
paginated and plain lists, and can inject faults (error statuses, HTML, bad
JSON, connection resets, hangs, stalls, slow drips, huge bodies, redirects).

With ``ssl_context`` (a server-side ``ssl.SSLContext`` holding a certificate
for 127.0.0.1 / localhost, e.g. from ``trustme``) it serves HTTPS and
``base_url`` is ``https://127.0.0.1:PORT/api/v1``. The TLS handshake runs in
each connection's own thread, so a client that never completes it blocks
nobody, and a failed handshake (the client refused the certificate) is not a
server error.

Standard library only; Python 3.9 compatible.

Demo::

    python tests/contract_server.py --port 8765 --site-url http://sample.test \\
        --api-key igny8_demo_key --email demo@example.com
"""

from __future__ import annotations

import argparse
import copy
import json
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlencode, urlsplit

API_PREFIX = "/api/v1"
MAX_BODY_BYTES = 1024 * 1024  # bodies over 1 MiB -> 413
_DRAIN_LIMIT = 64 * 1024 * 1024  # bigger bodies are not even drained
_THREAD_PREFIX = "contract-server"
_HANDSHAKE_TIMEOUT = 10.0  # seconds a TLS client may take to complete its handshake

FAULT_KINDS = (
    "status",
    "html",
    "not_json",
    "wrong_shape",
    "reset",
    "hang",
    "stall_after_headers",
    "huge",
    "redirect",
    "delay",
    "drip",
    "drip_headers",
)

_DEFAULT_HTML = (
    "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center>"
    "</body></html>\n"
)


# --------------------------------------------------------------------------
# Public data types
# --------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    path: str  # path without the query string, e.g. "/api/v1/auth/sites/"
    query: Dict[str, str]  # parsed query string (last value wins)
    headers: Dict[str, str]  # lower-case header names
    body: Any  # parsed JSON body, or None (no body / not JSON / too large)
    target: str = ""  # the raw request target: path with query string
    raw_body: bytes = b""  # the body bytes (empty when over 1 MiB)
    body_size: int = 0
    fault: Optional[str] = None  # kind of the injected fault that answered it
    status: Optional[int] = None  # status sent (None when no response was sent)
    started: Optional[float] = None  # time.monotonic() when it arrived
    finished: Optional[float] = None  # ... and when its answer was ready (after any delay fault)


@dataclass
class _Fault:
    kind: str
    remaining: Optional[int]  # None = unlimited
    path_contains: Optional[str]
    method: Optional[str]
    opts: Dict[str, Any] = field(default_factory=dict)

    def matches(self, method: str, target: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.path_contains is not None and self.path_contains not in target:
            return False
        return True


class _ApiError(Exception):
    def __init__(self, status: int, body: Any, headers: Optional[Dict[str, str]] = None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _utc_iso(dt: datetime) -> str:
    dt = dt.astimezone(timezone.utc)
    if dt.microsecond:
        text = dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
    else:
        text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    return text + "Z"


def _type_name(value: Any) -> str:
    return type(value).__name__


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --------------------------------------------------------------------------
# Validation of the structure payload (endpoint 5)
# --------------------------------------------------------------------------

_REQUIRED = "This field is required."
_NOT_NULL = "This field may not be null."
_NOT_INT = "A valid integer is required."
_NOT_BOOL = "Must be a valid boolean."
_NOT_STR = "Not a valid string."


def _validate_entry(entry: Any) -> Tuple[Optional[Dict[str, Any]], Dict[str, Any]]:
    if not isinstance(entry, dict):
        return None, {
            "non_field_errors": [
                "Invalid data. Expected a dictionary, but got %s." % _type_name(entry)
            ]
        }
    errors: Dict[str, List[str]] = {}
    clean: Dict[str, Any] = {}

    if "label" not in entry:
        errors["label"] = [_REQUIRED]
    elif entry["label"] is None:
        errors["label"] = [_NOT_NULL]
    elif not isinstance(entry["label"], str):
        errors["label"] = [_NOT_STR]
    else:
        clean["label"] = entry["label"]

    if "count" not in entry:
        errors["count"] = [_REQUIRED]
    elif entry["count"] is None:
        errors["count"] = [_NOT_NULL]
    elif not _is_int(entry["count"]):
        errors["count"] = [_NOT_INT]
    elif entry["count"] < 0:
        errors["count"] = ["Ensure this value is greater than or equal to 0."]
    else:
        clean["count"] = entry["count"]

    if "enabled" in entry:
        if entry["enabled"] is None:
            errors["enabled"] = [_NOT_NULL]
        elif not isinstance(entry["enabled"], bool):
            errors["enabled"] = [_NOT_BOOL]
        else:
            clean["enabled"] = entry["enabled"]

    if "fetch_limit" in entry:
        value = entry["fetch_limit"]
        if value is None:
            errors["fetch_limit"] = [_NOT_NULL]
        elif not _is_int(value):
            errors["fetch_limit"] = [_NOT_INT]
        elif value < 1:
            errors["fetch_limit"] = ["Ensure this value is greater than or equal to 1."]
        else:
            clean["fetch_limit"] = value

    if errors:
        return None, errors
    return clean, {}


def validate_structure(data: Any) -> Tuple[Optional[Dict[str, Any]], Dict[str, Any]]:
    """Validate an update-structure body.

    Returns ``(cleaned, {})`` or ``(None, drf_style_nested_errors)``.
    """
    if not isinstance(data, dict):
        return None, {
            "non_field_errors": [
                "Invalid data. Expected a dictionary, but got %s." % _type_name(data)
            ]
        }
    errors: Dict[str, Any] = {}
    cleaned: Dict[str, Any] = {}
    for key in ("post_types", "taxonomies"):
        if key not in data:
            errors[key] = [_REQUIRED]
            continue
        value = data[key]
        if value is None:
            errors[key] = [_NOT_NULL]
            continue
        if not isinstance(value, dict):
            errors[key] = [
                'Expected a dictionary of items but got type "%s".' % _type_name(value)
            ]
            continue
        entries: Dict[str, Any] = {}
        entry_errors: Dict[str, Any] = {}
        for slug, entry in value.items():
            clean, err = _validate_entry(entry)
            if err:
                entry_errors[slug] = err
            else:
                entries[slug] = clean
        if entry_errors:
            errors[key] = entry_errors
        else:
            cleaned[key] = entries
    for key in ("plugin_connection_enabled", "two_way_sync_enabled"):
        if key in data:
            if data[key] is None:
                errors[key] = [_NOT_NULL]
            elif not isinstance(data[key], bool):
                errors[key] = [_NOT_BOOL]
            else:
                cleaned[key] = data[key]
    if errors:
        return None, errors
    return cleaned, {}


def _flatten_errors(errors: Any, prefix: str = "") -> Dict[str, List[str]]:
    out: Dict[str, List[str]] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            path = "%s.%s" % (prefix, key) if prefix else str(key)
            out.update(_flatten_errors(value, path))
    elif isinstance(errors, list):
        out[prefix or "non_field_errors"] = [str(m) for m in errors]
    else:
        out[prefix or "non_field_errors"] = [str(errors)]
    return out


def _strict_constant(name: str) -> Any:
    raise ValueError("Out of range float values are not JSON compliant: %r" % name)


# --------------------------------------------------------------------------
# The HTTP layer
# --------------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False  # stop() joins the handler threads itself

    def __init__(self, address: Tuple[Any, ...], owner: "ContractServer") -> None:
        self.owner = owner
        self.stop_event = threading.Event()
        self._conn_lock = threading.Lock()
        self._conns: set = set()
        self._handler_threads: set = set()
        host = address[0]
        if ":" in str(host):
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        if owner.ssl_context is not None:
            # accept() then wraps each connection without a handshake; the
            # handshake happens in the connection's thread (_run_connection).
            self.socket = owner.ssl_context.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), which can block on DNS.
        TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = self.server_address[1]

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._run_connection,
            args=(request, client_address),
            name="%s-conn" % _THREAD_PREFIX,
            daemon=True,
        )
        with self._conn_lock:
            self._conns.add(request)
            self._handler_threads.add(thread)
        thread.start()

    def _run_connection(self, request: Any, client_address: Any) -> None:
        try:
            if isinstance(request, ssl.SSLSocket):
                request.settimeout(_HANDSHAKE_TIMEOUT)
                request.do_handshake()
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._conn_lock:
                self._conns.discard(request)
                self._handler_threads.discard(threading.current_thread())

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout, OSError)):
            return  # the client went away; that is the client's business
        self.owner._record_error(traceback.format_exc())

    def release_connections(self) -> List[threading.Thread]:
        with self._conn_lock:
            conns = list(self._conns)
            threads = list(self._handler_threads)
        for conn in conns:
            try:
                # The plain socket's shutdown, also under TLS: SSLSocket.shutdown
                # would drop the TLS object under a handler thread reading it.
                socket.socket.shutdown(conn, socket.SHUT_RDWR)
            except OSError:
                pass
        return threads


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # As production servers do: with Nagle's algorithm on, the body written
    # after the headers waits for the client's delayed ACK (40 ms a response).
    disable_nagle_algorithm = True
    server_version = "contract-server/1"
    sys_version = ""
    timeout = 60  # idle keep-alive connections do not live forever
    server: _HTTPServer
    _record: Optional[RecordedRequest] = None

    # -- plumbing ----------------------------------------------------------

    def date_time_string(self, timestamp: Optional[float] = None) -> str:
        """The Date header: this host's time, moved by the server's ``date_skew``."""
        if timestamp is None:
            timestamp = time.time() + self.server.owner.date_skew
        return super().date_time_string(timestamp)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.server.owner.verbose:
            sys.stderr.write("contract-server: %s\n" % (format % args))

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def _read_body(self) -> Tuple[bytes, int, bool]:
        """Return (body, size, too_large). Bodies over 1 MiB are drained, not kept."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks: List[bytes] = []
            size = 0
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("client closed mid-body")
                try:
                    n = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise _ApiError(400, {"detail": "Malformed chunked body."})
                if n == 0:
                    while True:  # trailers
                        trailer = self.rfile.readline(65537)
                        if trailer in (b"\r\n", b"\n", b""):
                            break
                    break
                data = self._read_exact(n)
                self.rfile.readline(65537)
                size += n
                if size <= MAX_BODY_BYTES:
                    chunks.append(data)
                elif size > _DRAIN_LIMIT:
                    self.close_connection = True
                    return b"", size, True
            too_large = size > MAX_BODY_BYTES
            return (b"" if too_large else b"".join(chunks)), size, too_large
        length_text = self.headers.get("Content-Length")
        if not length_text:
            return b"", 0, False
        try:
            length = int(length_text)
            if length < 0:
                raise ValueError(length_text)
        except ValueError:
            self.close_connection = True
            raise _ApiError(400, {"detail": "Invalid Content-Length."})
        if length > MAX_BODY_BYTES:
            if length > _DRAIN_LIMIT:
                self.close_connection = True
                return b"", length, True
            remaining = length
            while remaining > 0:
                got = self.rfile.read(min(remaining, 65536))
                if not got:
                    raise ConnectionError("client closed mid-body")
                remaining -= len(got)
            return b"", length, True
        return self._read_exact(length), length, False

    def _read_exact(self, n: int) -> bytes:
        data = self.rfile.read(n)
        if len(data) != n:
            raise ConnectionError("client closed mid-body")
        return data

    def _dispatch(self) -> None:
        owner = self.server.owner
        split = urlsplit(self.path)
        path = split.path
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        record = RecordedRequest(
            method=self.command,
            path=path,
            query=query,
            headers=headers,
            body=None,
            target=self.path,
        )
        self._record = record
        try:
            raw, size, too_large = self._read_body()
        except _ApiError as exc:
            owner._record_request(record)
            self._send_error(exc)
            return
        record.raw_body = raw
        record.body_size = size
        if raw:
            try:
                record.body = json.loads(raw.decode("utf-8"), parse_constant=_strict_constant)
            except ValueError:
                record.body = None
        owner._record_request(record)

        fault = owner._take_fault(self.command, self.path)
        if fault is not None:
            record.fault = fault.kind
            if fault.kind == "delay":
                self.server.stop_event.wait(float(fault.opts.get("seconds", 1.0)))
                if self.server.stop_event.is_set():
                    self.close_connection = True
                    return
            else:
                self._serve_fault(fault)
                return

        try:
            if too_large:
                raise _ApiError(413, {"detail": "Request body too large (limit is 1 MiB)."})
            try:
                status, payload, extra = owner._route(self, path, query, raw)
            finally:
                record.finished = time.monotonic()
        except _ApiError as exc:
            self._send_error(exc)
            return
        except Exception:
            owner._record_error(traceback.format_exc())
            self._send_json(500, {"detail": "Internal server error."})
            return
        self._send_json(status, payload, extra)

    # -- writing -------------------------------------------------------------

    def _send_bytes(
        self,
        status: int,
        body: bytes,
        content_type: Optional[str],
        headers: Optional[Dict[str, str]] = None,
    ) -> None:
        no_body = status < 200 or status in (204, 304)
        self.send_response(status)
        sent = set()
        for name, value in (headers or {}).items():
            self.send_header(name, str(value))
            sent.add(name.lower())
        if content_type and "content-type" not in sent and not no_body:
            self.send_header("Content-Type", content_type)
        if "content-length" not in sent and not no_body:
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self._record is not None:
            self._record.status = status
        if self.command != "HEAD" and not no_body:
            self.wfile.write(body)
        self.wfile.flush()

    def _send_json(self, status: int, payload: Any, headers: Optional[Dict[str, str]] = None) -> None:
        body = json.dumps(payload).encode("utf-8")
        self._send_bytes(status, body, "application/json", headers)

    def _send_error(self, exc: _ApiError) -> None:
        owner = self.server.owner
        body = exc.body
        if owner.error_style == "envelope" and isinstance(body, dict):
            if "detail" in body and len(body) == 1:
                body = {"success": False, "error": body["detail"]}
            else:
                body = {
                    "success": False,
                    "error": "Validation failed.",
                    "errors": _flatten_errors(body),
                }
        headers = dict(exc.headers)
        self._send_json(exc.status, body, headers)

    # -- faults --------------------------------------------------------------

    def _serve_fault(self, fault: _Fault) -> None:
        kind = fault.kind
        opts = fault.opts
        stop = self.server.stop_event
        if kind == "status":
            status = int(opts.get("status", 503))
            headers = dict(opts.get("headers") or {})
            if "retry_after" in opts and opts["retry_after"] is not None:
                headers["Retry-After"] = str(opts["retry_after"])
            body, ctype = _fault_body(opts.get("body", _MISSING), status, opts.get("content_type"))
            self._send_bytes(status, body, ctype, headers)
        elif kind == "html":
            status = int(opts.get("status", 200))
            body = opts.get("body", _DEFAULT_HTML)
            if isinstance(body, str):
                body = body.encode("utf-8")
            self._send_bytes(
                status,
                body,
                opts.get("content_type", "text/html; charset=utf-8"),
                dict(opts.get("headers") or {}),
            )
        elif kind == "not_json":
            status = int(opts.get("status", 200))
            body = opts.get("body", "<<garbage")
            if isinstance(body, str):
                body = body.encode("utf-8")
            self._send_bytes(status, body, opts.get("content_type", "application/json"))
        elif kind == "wrong_shape":
            status = int(opts.get("status", 200))
            if "body" in opts:
                payload = opts["body"]
            elif self._is_list_endpoint():
                payload = {"unexpected": "shape", "items": None}
            else:
                payload = [{"unexpected": "shape"}]
            self._send_json(status, payload, dict(opts.get("headers") or {}))
        elif kind == "redirect":
            status = int(opts.get("status", 302))
            location = opts.get("location") or opts.get("url") or "https://elsewhere.invalid/api/v1/"
            headers = dict(opts.get("headers") or {})
            headers["Location"] = location
            self._send_json(status, {"detail": "Moved."}, headers)
        elif kind == "reset":
            partial = opts.get("partial", b"HTTP/1.1 200 OK\r\nContent-Ty")
            if isinstance(partial, str):
                partial = partial.encode("latin-1")
            self.close_connection = True
            try:
                if partial:
                    self.wfile.write(partial)
                    self.wfile.flush()
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.rfile.close()  # drop the makefile reference so close() is real
                self.connection.close()
            except OSError:
                pass
        elif kind == "hang":
            self.close_connection = True
            stop.wait(float(opts.get("seconds", 30.0)))
        elif kind == "stall_after_headers":
            self.close_connection = True
            length = int(opts.get("content_length", 100))
            prefix = opts.get("body_prefix", b"")
            if isinstance(prefix, str):
                prefix = prefix.encode("utf-8")
            self.send_response(int(opts.get("status", 200)))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(length))
            self.end_headers()
            if self._record is not None:
                self._record.status = int(opts.get("status", 200))
            try:
                if prefix:
                    self.wfile.write(prefix)
                self.wfile.flush()
            except OSError:
                return
            stop.wait(float(opts.get("seconds", 30.0)))
        elif kind == "huge":
            self._serve_huge(int(opts.get("size", 50 * 1024 * 1024)), bool(opts.get("chunked", False)))
        elif kind == "drip":
            # Every byte arrives in time for a per-read timeout; the whole body never does.
            self.close_connection = True
            body = opts.get("body", b'{"detail": "slow"}')
            if isinstance(body, str):
                body = body.encode("utf-8")
            status = int(opts.get("status", 200))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self._record is not None:
                self._record.status = status
            interval = float(opts.get("interval", 1.0))
            try:
                self.wfile.flush()
                for index in range(len(body)):
                    if stop.wait(interval):
                        return
                    self.wfile.write(body[index:index + 1])
                    self.wfile.flush()
            except OSError:
                return
        elif kind == "drip_headers":
            # The status line and headers themselves, one byte per interval: every
            # read is in time for a per-read timeout, the response never is.
            self.close_connection = True
            head = opts.get("head", b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                    b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
            if isinstance(head, str):
                head = head.encode("latin-1")
            interval = float(opts.get("interval", 1.0))
            try:
                for index in range(len(head)):
                    if stop.wait(interval):
                        return
                    self.wfile.write(head[index:index + 1])
                    self.wfile.flush()
            except OSError:
                return
        else:  # pragma: no cover - inject() validates kinds
            raise AssertionError(kind)

    def _serve_huge(self, size: int, chunked: bool) -> None:
        stop = self.server.stop_event
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(size))
        self.send_header("Connection", "close")
        self.end_headers()
        if self._record is not None:
            self._record.status = 200
        # A valid JSON document of exactly `size` bytes: {"data": "xxxx...x"}
        head, tail = b'{"data": "', b'"}'
        if size >= len(head) + len(tail):
            parts = [head, None, tail]
            filler = size - len(head) - len(tail)
        else:
            parts = [None]
            filler = size
        block = b"x" * 65536
        try:
            for part in parts:
                if part is not None:
                    self._write_chunk(part, chunked)
                    continue
                left = filler
                while left > 0:
                    if stop.is_set():
                        return
                    n = min(left, len(block))
                    self._write_chunk(block[:n], chunked)
                    left -= n
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            return

    def _write_chunk(self, data: bytes, chunked: bool) -> None:
        if chunked:
            self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
        else:
            self.wfile.write(data)

    def _is_list_endpoint(self) -> bool:
        path = urlsplit(self.path).path
        return self.command == "GET" and path in (
            API_PREFIX + "/auth/sites/",
            API_PREFIX + "/integration/integrations/",
        )


class _Missing:
    pass


_MISSING = _Missing()

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _fault_body(body: Any, status: int, content_type: Optional[str]) -> Tuple[bytes, Optional[str]]:
    if body is _MISSING:
        detail = _REASONS.get(status, "Injected status %d" % status)
        return json.dumps({"detail": detail}).encode("utf-8"), content_type or "application/json"
    if body is None:
        return b"", content_type
    if isinstance(body, bytes):
        return body, content_type or "application/octet-stream"
    if isinstance(body, str):
        guess = "text/html; charset=utf-8" if body.lstrip().startswith("<") else "text/plain; charset=utf-8"
        return body.encode("utf-8"), content_type or guess
    return json.dumps(body).encode("utf-8"), content_type or "application/json"


# --------------------------------------------------------------------------
# The server object the tests use
# --------------------------------------------------------------------------


class ContractServer:
    """The IGNY8 backend contract (v1) on loopback, with fault injection."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        envelope: bool = True,
        paginate: bool = True,
        page_size: int = 2,
        error_style: str = "drf",
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None:
        if error_style not in ("drf", "envelope"):
            raise ValueError("error_style must be 'drf' or 'envelope'")
        if page_size < 1:
            raise ValueError("page_size must be >= 1")
        self.host = host
        self._port = int(port)
        self.envelope = envelope
        self.paginate = paginate
        self.page_size = page_size
        self.error_style = error_style
        # Server-side TLS context: HTTPS when set. Read by start(), so it may be
        # swapped between stop() and start() (e.g. to serve another certificate).
        self.ssl_context = ssl_context
        # Origin ("scheme://host[:port]") used in absolute next/previous links;
        # None = taken from the request's Host header (what DRF does).
        self.link_origin: Optional[str] = None
        # When True, the integrations list ignores ?site_id= and ?platform=
        # (the contract allows that; the agent must check items itself).
        self.ignore_list_filters = False
        self.verbose = False
        self.clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
        # Seconds added to the time in every response's Date header (a backend
        # whose clock is off); the times in the API's bodies come from `clock`.
        self.date_skew = 0.0

        self.requests: List[RecordedRequest] = []
        self.errors: List[str] = []  # unexpected server-side exceptions

        self._lock = threading.RLock()
        self._lifecycle = threading.Lock()
        self._httpd: Optional[_HTTPServer] = None
        self._serve_thread: Optional[threading.Thread] = None
        self._faults: List[_Fault] = []

        self._next_id = {"account": 1, "user": 1001, "site": 42, "integration": 9001}
        self._accounts: Dict[int, Dict[str, Any]] = {}
        self._users: Dict[int, Dict[str, Any]] = {}
        self._keys: Dict[str, int] = {}  # api key -> user id
        self._revoked: set = set()
        self._sites: Dict[int, Dict[str, Any]] = {}
        self._integrations: Dict[int, Dict[str, Any]] = {}
        self._synced: Dict[int, Dict[Tuple[str, str], int]] = {}
        self._site_synced: Dict[int, Dict[str, int]] = {}

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> "ContractServer":
        with self._lifecycle:
            if self._httpd is not None:
                return self
            httpd = _HTTPServer((self.host, self._port), self)
            self._port = int(httpd.server_address[1])
            thread = threading.Thread(
                target=httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="%s-serve" % _THREAD_PREFIX,
                daemon=True,
            )
            self._httpd = httpd
            self._serve_thread = thread
            thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: release hanging handlers, close every connection, join threads."""
        with self._lifecycle:
            httpd, thread = self._httpd, self._serve_thread
            if httpd is None:
                return
            self._httpd = None
            self._serve_thread = None
            httpd.stop_event.set()
            httpd.shutdown()
            httpd.server_close()
            handler_threads = httpd.release_connections()
            if thread is not None:
                thread.join(5)
            for t in handler_threads:
                t.join(5)

    def __enter__(self) -> "ContractServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def port(self) -> int:
        return self._port

    @property
    def origin(self) -> str:
        if not self._port:
            raise RuntimeError("ContractServer has no port yet; call start() first")
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "%s://%s:%d" % (self.scheme, host, self._port)

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_context is not None else "http"

    @property
    def base_url(self) -> str:
        return self.origin + API_PREFIX

    def thread_count(self) -> int:
        """Live threads belonging to this module (for leak checks)."""
        return sum(1 for t in threading.enumerate() if t.name.startswith(_THREAD_PREFIX))

    # -- seeding ---------------------------------------------------------------

    def _new_id(self, kind: str) -> int:
        value = self._next_id[kind]
        self._next_id[kind] = value + 1
        return value

    def add_account(self, name: str, email: str, api_key: str) -> int:
        """Create an account with one user owning `api_key`; returns the account id."""
        with self._lock:
            if api_key in self._keys:
                raise ValueError("API key already in use")
            account_id = self._new_id("account")
            user_id = self._new_id("user")
            self._accounts[account_id] = {"id": account_id, "name": name}
            self._users[user_id] = {"id": user_id, "email": email, "account": account_id}
            self._keys[api_key] = user_id
            return account_id

    def add_api_key(self, account_id: int, api_key: str, email: Optional[str] = None) -> int:
        """Add another user (and key) to an account; returns the user id."""
        with self._lock:
            if account_id not in self._accounts:
                raise KeyError(account_id)
            if api_key in self._keys:
                raise ValueError("API key already in use")
            user_id = self._new_id("user")
            self._users[user_id] = {
                "id": user_id,
                "email": email or "user%d@example.com" % user_id,
                "account": account_id,
            }
            self._keys[api_key] = user_id
            return user_id

    def user_id_for_key(self, api_key: str) -> int:
        with self._lock:
            return self._keys[api_key]

    def revoke_key(self, api_key: str) -> None:
        with self._lock:
            self._revoked.add(api_key)

    def add_site(self, account_id: int, url: str, name: str = "", is_active: bool = True) -> int:
        with self._lock:
            if account_id not in self._accounts:
                raise KeyError(account_id)
            site_id = self._new_id("site")
            self._sites[site_id] = {
                "id": site_id,
                "name": name or (urlsplit(url).hostname or url),
                "url": url,
                "is_active": bool(is_active),
                "account": account_id,
            }
            return site_id

    def set_site_active(self, site_id: int, is_active: bool) -> None:
        with self._lock:
            self._sites[site_id]["is_active"] = bool(is_active)

    def add_integration(
        self,
        site_id: int,
        config_json: Optional[dict] = None,
        *,
        platform: str = "wordpress",
        is_active: bool = True,
        allow_duplicate: bool = False,
    ) -> int:
        with self._lock:
            if site_id not in self._sites:
                raise KeyError(site_id)
            if platform == "wordpress" and not allow_duplicate and self._wp_integration_exists(site_id):
                raise ValueError("site %d already has a WordPress integration" % site_id)
            return self._create_integration(site_id, platform, "cms", is_active, config_json or {})

    def _wp_integration_exists(self, site_id: int) -> bool:
        return any(
            i["site"] == site_id and i["platform"] == "wordpress" for i in self._integrations.values()
        )

    def _create_integration(
        self, site_id: int, platform: str, platform_type: str, is_active: bool, config_json: Any
    ) -> int:
        integration_id = self._new_id("integration")
        now = _utc_iso(self.clock())
        self._integrations[integration_id] = {
            "id": integration_id,
            "site": site_id,
            "platform": platform,
            "platform_type": platform_type,
            "is_active": is_active,
            "config_json": copy.deepcopy(config_json),
            "created_at": now,
            "updated_at": now,
        }
        return integration_id

    def delete_integration(self, integration_id: int) -> None:
        with self._lock:
            self._integrations.pop(integration_id, None)
            self._synced.pop(integration_id, None)

    def get_integration(self, integration_id: int) -> Optional[dict]:
        with self._lock:
            item = self._integrations.get(integration_id)
            return copy.deepcopy(item) if item is not None else None

    def integrations_for_site(self, site_id: int) -> List[dict]:
        with self._lock:
            return [
                copy.deepcopy(i) for _, i in sorted(self._integrations.items()) if i["site"] == site_id
            ]

    def set_synced_count(self, integration_id: int, kind: str, slug: str, n: int) -> None:
        if kind not in ("post_types", "taxonomies"):
            raise ValueError("kind must be 'post_types' or 'taxonomies'")
        with self._lock:
            self._synced.setdefault(integration_id, {})[(kind, slug)] = int(n)

    def set_site_synced_count(self, site_id: int, slug: str, n: int, kind: Optional[str] = None) -> None:
        """synced_count for `slug` in any integration of the site (unless set per integration)."""
        with self._lock:
            key = slug if kind is None else "%s.%s" % (kind, slug)
            self._site_synced.setdefault(site_id, {})[key] = int(n)

    def _synced_count(self, integration: Dict[str, Any], kind: str, slug: str) -> int:
        per = self._synced.get(integration["id"], {})
        if (kind, slug) in per:
            return per[(kind, slug)]
        site = self._site_synced.get(integration["site"], {})
        if "%s.%s" % (kind, slug) in site:
            return site["%s.%s" % (kind, slug)]
        return site.get(slug, 0)

    # -- requests and faults ----------------------------------------------------

    def _record_request(self, record: RecordedRequest) -> None:
        record.started = time.monotonic()
        with self._lock:
            self.requests.append(record)

    def _record_error(self, text: str) -> None:
        with self._lock:
            self.errors.append(text)
        if self.verbose:
            sys.stderr.write(text)

    def clear_requests(self) -> None:
        with self._lock:
            del self.requests[:]

    def requests_to(self, path_contains: str, method: Optional[str] = None) -> List[RecordedRequest]:
        with self._lock:
            return [
                r
                for r in self.requests
                if path_contains in r.target and (method is None or r.method == method.upper())
            ]

    def inject(
        self,
        kind: str,
        count: Optional[int] = 1,
        path_contains: Optional[str] = None,
        **opts: Any,
    ) -> None:
        """Make the next `count` matching requests fail as `kind` (count=None: until cleared).

        Matching: `path_contains` is a substring of the request target (path and
        query); opts["method"] restricts the HTTP method. Faults are consumed in
        the order they were injected. Kinds and their options:

        status (status=503, body=<json|str|bytes|None>, headers={}, retry_after=,
        content_type=), html (status=200, body=), not_json (status=200,
        body="<<garbage"), wrong_shape (status=200, body=<json>), reset
        (partial=<bytes sent before the RST>), hang (seconds=30), stall_after_headers
        (seconds=30, content_length=100, body_prefix=b""), huge (size=50 MB,
        chunked=False), redirect (location=..., status=302), delay (seconds=1,
        then the normal answer), drip (status=200, body=b'{"detail": "slow"}',
        interval=1.0: the headers, then one byte of the body per interval),
        drip_headers (interval=1.0, head=<status line, headers and body>: one
        byte of the response per interval, from its first byte).
        """
        if kind not in FAULT_KINDS:
            raise ValueError("unknown fault kind %r (one of %s)" % (kind, ", ".join(FAULT_KINDS)))
        if count is not None and count < 1:
            raise ValueError("count must be >= 1 or None")
        method = opts.pop("method", None)
        with self._lock:
            self._faults.append(_Fault(kind, count, path_contains, method, dict(opts)))

    def clear_faults(self) -> None:
        with self._lock:
            del self._faults[:]

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    def _take_fault(self, method: str, target: str) -> Optional[_Fault]:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(method, target):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            del self._faults[index]
                    return fault
        return None

    # -- the API ---------------------------------------------------------------

    def _ok(self, payload: Any) -> Any:
        if self.envelope:
            return {"success": True, "data": payload, "message": "ok"}
        return payload

    def _authenticate(self, headers: Any) -> Dict[str, Any]:
        auth = headers.get("Authorization")
        challenge = {"WWW-Authenticate": 'Bearer realm="api"'}
        if not auth:
            raise _ApiError(401, {"detail": "Authentication credentials were not provided."}, challenge)
        parts = auth.split()
        if len(parts) == 0 or parts[0].lower() != "bearer":
            raise _ApiError(401, {"detail": "Authentication credentials were not provided."}, challenge)
        if len(parts) != 2:
            raise _ApiError(401, {"detail": "Invalid API key."}, challenge)
        key = parts[1]
        with self._lock:
            user_id = self._keys.get(key)
            if user_id is None or key in self._revoked:
                raise _ApiError(401, {"detail": "Invalid API key."}, challenge)
            return dict(self._users[user_id])

    def _route(
        self, handler: _Handler, path: str, query: Dict[str, str], raw: bytes
    ) -> Tuple[int, Any, Dict[str, str]]:
        method = handler.command
        if method == "HEAD":
            method = "GET"
        not_found = _ApiError(404, {"detail": "Not found."})
        if not path.startswith(API_PREFIX + "/"):
            raise not_found
        rel = path[len(API_PREFIX):]
        parts = rel.strip("/").split("/")
        if not rel.endswith("/"):
            raise not_found

        # (allowed methods, view) by route
        integration_id: Optional[int] = None
        if rel == "/auth/me/":
            allowed, view = ("GET",), "me"
        elif rel == "/auth/sites/":
            allowed, view = ("GET",), "sites"
        elif rel == "/integration/integrations/":
            allowed, view = ("GET", "POST"), "integrations"
        elif len(parts) in (3, 4) and parts[:2] == ["integration", "integrations"] and parts[2].isdigit():
            integration_id = int(parts[2])
            if len(parts) == 3:
                allowed, view = ("GET",), "integration"
            elif parts[3] == "update-structure":
                allowed, view = ("POST",), "update_structure"
            elif parts[3] == "content-types":
                allowed, view = ("GET",), "content_types"
            else:
                raise not_found
        else:
            raise not_found

        user = self._authenticate(handler.headers)
        if method not in allowed and handler.command != "OPTIONS":
            raise _ApiError(
                405,
                {"detail": 'Method "%s" not allowed.' % handler.command},
                {"Allow": ", ".join(allowed + ("HEAD", "OPTIONS") if "GET" in allowed else allowed + ("OPTIONS",))},
            )
        if handler.command == "OPTIONS":
            return 200, {"name": view, "renders": ["application/json"]}, {"Allow": ", ".join(allowed)}
        account_id = user["account"]

        if view == "me":
            with self._lock:
                account = self._accounts[account_id]
                return 200, self._ok(
                    {
                        "id": user["id"],
                        "email": user["email"],
                        "account": {"id": account["id"], "name": account["name"]},
                    }
                ), {}
        if view == "sites":
            with self._lock:
                items = [
                    {"id": s["id"], "name": s["name"], "url": s["url"], "is_active": s["is_active"]}
                    for _, s in sorted(self._sites.items())
                    if s["account"] == account_id
                ]
            return 200, self._ok(self._paginate(handler, path, query, items)), {}
        if view == "integrations" and method == "GET":
            with self._lock:
                items = []
                for _, integ in sorted(self._integrations.items()):
                    site = self._sites.get(integ["site"])
                    if site is None or site["account"] != account_id:
                        continue
                    if not self.ignore_list_filters:
                        if "site_id" in query and str(integ["site"]) != query["site_id"].strip():
                            continue
                        if "platform" in query and integ["platform"] != query["platform"]:
                            continue
                    items.append(copy.deepcopy(integ))
            return 200, self._ok(self._paginate(handler, path, query, items)), {}
        if view == "integrations":  # POST: create
            data = self._parse_json(handler, raw, empty={})
            return 201, self._ok(self._create_from_request(account_id, data)), {}

        assert integration_id is not None
        with self._lock:
            integ = self._integrations.get(integration_id)
            site = self._sites.get(integ["site"]) if integ else None
            if integ is None or site is None or site["account"] != account_id:
                raise not_found
        if view == "integration":
            with self._lock:
                return 200, self._ok(copy.deepcopy(integ)), {}
        if view == "content_types":
            with self._lock:
                return 200, self._ok(self._content_types(integ)), {}
        # update-structure
        data = self._parse_json(handler, raw, empty={})
        cleaned, errors = validate_structure(data)
        if errors:
            raise _ApiError(400, errors)
        assert cleaned is not None
        with self._lock:
            integ = self._integrations.get(integration_id)
            if integ is None:  # deleted meanwhile
                raise not_found
            config = integ.get("config_json")
            if not isinstance(config, dict):
                config = {}
            fetched = _utc_iso(self.clock().replace(microsecond=0))
            config["content_types"] = {
                "post_types": cleaned["post_types"],
                "taxonomies": cleaned["taxonomies"],
                "last_structure_fetch": fetched,
            }
            config["plugin_connection_enabled"] = cleaned.get(
                "plugin_connection_enabled", config.get("plugin_connection_enabled", True)
            )
            config["two_way_sync_enabled"] = cleaned.get(
                "two_way_sync_enabled", config.get("two_way_sync_enabled", True)
            )
            integ["config_json"] = config
            integ["updated_at"] = _utc_iso(self.clock())
        return 200, self._ok({"last_structure_fetch": fetched}), {}

    def _parse_json(self, handler: _Handler, raw: bytes, empty: Any) -> Any:
        if not raw:
            return empty
        ctype = (handler.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if ctype != "application/json":
            shown = handler.headers.get("Content-Type") or ""
            raise _ApiError(415, {"detail": 'Unsupported media type "%s" in request.' % shown})
        try:
            return json.loads(raw.decode("utf-8"), parse_constant=_strict_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _ApiError(400, {"detail": "JSON parse error - %s" % exc})

    def _create_from_request(self, account_id: int, data: Any) -> Dict[str, Any]:
        if not isinstance(data, dict):
            raise _ApiError(
                400,
                {"non_field_errors": ["Invalid data. Expected a dictionary, but got %s." % _type_name(data)]},
            )
        errors: Dict[str, List[str]] = {}
        site_id: Optional[int] = None
        raw_site = data.get("site", _MISSING)
        if raw_site is _MISSING:
            errors["site"] = [_REQUIRED]
        elif raw_site is None:
            errors["site"] = [_NOT_NULL]
        elif _is_int(raw_site) or (isinstance(raw_site, str) and raw_site.isdigit()):
            candidate = int(raw_site)
            with self._lock:
                site = self._sites.get(candidate)
                if site is None or site["account"] != account_id:
                    errors["site"] = ['Invalid pk "%s" - object does not exist.' % raw_site]
                else:
                    site_id = candidate
        else:
            errors["site"] = ["Incorrect type. Expected pk value, received %s." % _type_name(raw_site)]
        platform = data.get("platform", _MISSING)
        if platform is _MISSING:
            errors["platform"] = [_REQUIRED]
        elif platform not in ("wordpress", "shopify", "custom"):
            errors["platform"] = ['"%s" is not a valid choice.' % (platform,)]
        platform_type = data.get("platform_type", "cms")
        if platform_type not in ("cms", "ecommerce", "custom_api"):
            errors["platform_type"] = ['"%s" is not a valid choice.' % (platform_type,)]
        is_active = data.get("is_active", True)
        if not isinstance(is_active, bool):
            errors["is_active"] = [_NOT_BOOL]
        config_json = data.get("config_json", {})
        if config_json is None:
            config_json = {}
        if errors:
            raise _ApiError(400, errors)
        assert site_id is not None
        with self._lock:
            if platform == "wordpress" and self._wp_integration_exists(site_id):
                raise _ApiError(
                    400, {"site": ["A WordPress integration already exists for this site."]}
                )
            new_id = self._create_integration(site_id, platform, platform_type, is_active, config_json)
            return copy.deepcopy(self._integrations[new_id])

    def _content_types(self, integ: Dict[str, Any]) -> Dict[str, Any]:
        config = integ.get("config_json")
        if not isinstance(config, dict):
            config = {}
        stored = config.get("content_types")
        if not isinstance(stored, dict):
            stored = {}
        out: Dict[str, Any] = {}
        for kind in ("post_types", "taxonomies"):
            entries = stored.get(kind)
            result: Dict[str, Any] = {}
            if isinstance(entries, dict):
                for slug, entry in entries.items():
                    if not isinstance(entry, dict):
                        continue
                    item: Dict[str, Any] = {}
                    for key in ("label", "count"):
                        if key in entry:
                            item[key] = entry[key]
                    item["synced_count"] = self._synced_count(integ, kind, slug)
                    for key, value in entry.items():
                        if key not in item:
                            item[key] = value
                    result[slug] = item
            out[kind] = result
        out["last_structure_fetch"] = stored.get("last_structure_fetch")
        out["plugin_connection_enabled"] = bool(config.get("plugin_connection_enabled", False))
        out["two_way_sync_enabled"] = bool(config.get("two_way_sync_enabled", False))
        return copy.deepcopy(out)

    def _paginate(self, handler: _Handler, path: str, query: Dict[str, str], items: List[Any]) -> Any:
        if not self.paginate:
            return items
        size = self.page_size
        pages = max(1, (len(items) + size - 1) // size)
        raw_page = query.get("page", "1")
        if raw_page == "last":
            page = pages
        else:
            try:
                page = int(raw_page)
            except ValueError:
                raise _ApiError(404, {"detail": "Invalid page."})
            if page < 1 or page > pages:
                raise _ApiError(404, {"detail": "Invalid page."})
        results = items[(page - 1) * size: page * size]
        return {
            "count": len(items),
            "next": self._page_link(handler, path, page + 1) if page < pages else None,
            "previous": self._page_link(handler, path, page - 1) if page > 1 else None,
            "results": results,
        }

    def _page_link(self, handler: _Handler, path: str, page: int) -> str:
        # DRF: replace_query_param / remove_query_param on build_absolute_uri()
        params = parse_qs(urlsplit(handler.path).query, keep_blank_values=True)
        params.pop("page", None)
        if page > 1:
            params["page"] = [str(page)]
        query = urlencode(sorted(params.items()), doseq=True)
        if self.link_origin:
            origin = self.link_origin.rstrip("/")
        else:
            host = handler.headers.get("Host") or "%s:%d" % (self.host, self._port)
            origin = "%s://%s" % (self.scheme, host)
        return origin + path + ("?" + query if query else "")


# --------------------------------------------------------------------------
# Demo CLI
# --------------------------------------------------------------------------


def _parse_synced(values: List[str]) -> List[Tuple[Optional[str], str, int]]:
    out = []
    for value in values:
        name, sep, number = value.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError("--synced expects SLUG=N, got %r" % value)
        kind: Optional[str] = None
        if "." in name:
            kind, name = name.split(".", 1)
            if kind not in ("post_types", "taxonomies"):
                raise argparse.ArgumentTypeError("unknown kind %r in --synced" % kind)
        try:
            n = int(number)
        except ValueError:
            raise argparse.ArgumentTypeError("--synced expects an integer count, got %r" % value)
        out.append((kind, name, n))
    return out


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="Serve the IGNY8 backend contract (v1) on loopback for demos and tests."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--site-url", default="http://sample.test")
    parser.add_argument("--site-name", default="")
    parser.add_argument("--api-key", default="igny8_demo_key")
    parser.add_argument("--email", default="demo@example.com")
    parser.add_argument("--account-name", default="Demo")
    parser.add_argument("--page-size", type=int, default=2)
    parser.add_argument("--no-envelope", action="store_true", help="bare response bodies")
    parser.add_argument("--no-paginate", action="store_true", help="lists as bare arrays")
    parser.add_argument(
        "--synced",
        action="append",
        default=[],
        metavar="SLUG=N",
        help="synced_count for a slug (or post_types.SLUG=N / taxonomies.SLUG=N); repeatable",
    )
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = parser.parse_args(argv)
    try:
        synced = _parse_synced(args.synced)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))

    server = ContractServer(
        args.host,
        args.port,
        envelope=not args.no_envelope,
        paginate=not args.no_paginate,
        page_size=args.page_size,
    )
    server.verbose = args.verbose
    account_id = server.add_account(args.account_name, args.email, args.api_key)
    site_id = server.add_site(account_id, args.site_url, args.site_name)
    for kind, slug, n in synced:
        server.set_site_synced_count(site_id, slug, n, kind)

    done = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        server.start()
    except OSError as exc:
        sys.stderr.write("contract-server: cannot listen on %s:%d: %s\n" % (args.host, args.port, exc))
        return 1
    sys.stdout.write("listening on %s\n" % server.base_url)
    sys.stdout.flush()
    try:
        while not done.wait(0.2):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
