"""Under httpx: which proxy a backend goes through, a deadline that bounds
a whole request, what a failed connection means (``connect_failure``) and
how a body is inflated within its size cap (which CAs are trusted:
``tlstrust``).

Proxies are decided here from the environment, never by httpx itself (its
client runs with ``trust_env=False``):

* a loopback backend never goes through a proxy; plain ``http://`` is allowed
  only for loopback backends, so the API key never crosses a proxy in clear;
* an ``https://`` backend uses ``https_proxy`` / ``HTTPS_PROXY``, else
  ``all_proxy`` / ``ALL_PROXY`` (lower case first, as curl reads them); the
  proxy sees only ``CONNECT host:443``, the request goes inside the tunnel;
* ``no_proxy`` / ``NO_PROXY`` lists hosts to reach directly: ``*``, names (a
  name covers its subdomains; a leading dot is ignored), IP addresses and
  networks (``10.0.0.0/8``), each with an optional ``:port``;
* every proxy variable that is set must be usable, even one this backend
  would not use: ``http://``, ``https://``, or ``socks5://`` / ``socks5h://``
  when the socksio package is installed. Anything else is a ConfigError
  naming the variable (its value may hold a password: it is not shown).

httpx's timeouts apply to each socket operation, so a server sending one byte
a second is never late. ``DeadlineBackend`` gives every name lookup, connect,
TLS handshake, read and write at most the time left until the deadline of the
request in progress; past it the operation fails as a timeout.
"""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import re
import socket
import threading
import time
import zlib
from typing import Any, Callable, Iterator, List, Mapping, Optional, Tuple, TypeVar

import httpcore
import httpx

from igny8_agent.errors import ConfigError

T = TypeVar("T")

PROXY_VARIABLES = ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "http_proxy", "HTTP_PROXY")
_HTTPS_PROXIES = PROXY_VARIABLES[:4]  # in the order they are looked at
_SCHEMES = ("http", "https", "socks5", "socks5h")
_HOST = re.compile(r"[a-z0-9_.-]+|[0-9a-f:.]+")  # as httpx normalizes it: IDNA, lower case, no brackets
_WRITE_CHUNK = 16 * 1024  # each write gets the time left, not the whole timeout again


def is_loopback(host: str) -> bool:
    host = host.lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def connect_failure(exc: BaseException) -> Optional[str]:
    """Why a request could not even reach the backend, from the chain of
    causes of an httpx error: ``"dns"`` (the name does not resolve, or its
    lookup timed out), ``"refused"``, ``"tls"`` (a handshake failure other than
    a rejected certificate) or ``"timeout"`` (no connection in time); None for
    anything else (the backend was reached)."""
    import ssl

    chain: List[BaseException] = []
    current: Optional[BaseException] = exc
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    if any(isinstance(e, (socket.gaierror, NameNotResolved, NameLookupTimeout)) for e in chain):
        return "dns"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "refused"
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain):
        return None  # refused by us, not a failure to reach it
    if any(isinstance(e, ssl.SSLError) for e in chain):
        return "tls"
    if isinstance(exc, httpx.ConnectTimeout):
        return "timeout"
    return None


# -- proxies --------------------------------------------------------------------------


def proxy_for(scheme: str, host: str, port: int, environ: Mapping[str, str]) -> Optional[str]:
    """The proxy URL a request to ``scheme://host:port`` goes through, or None."""
    proxies = {name: _usable_proxy(name, environ[name]) for name in PROXY_VARIABLES if environ.get(name, "").strip()}
    if scheme != "https" or is_loopback(host) or _bypassed(host, port, environ):
        return None
    return next((proxies[name] for name in _HTTPS_PROXIES if name in proxies), None)


def _usable_proxy(name: str, value: str) -> str:
    text = value.strip()
    if "://" not in text:
        text = "http://" + text  # "proxy:3128", as curl reads it
    problem = _proxy_problem(text)
    if problem:
        raise ConfigError("the proxy in %s cannot be used: %s; fix or unset %s" % (name, problem, name))
    return text


def _proxy_problem(text: str) -> Optional[str]:
    try:
        url = httpx.URL(text)
        host, port = url.host, url.port
    except (httpx.InvalidURL, ValueError):
        return "it is not a valid URL"
    if url.scheme not in _SCHEMES:
        return "the scheme %r is not supported (http, https, socks5, socks5h)" % url.scheme[:20]
    if not host or not _HOST.fullmatch(host) or (port is not None and not 0 < port < 65536):
        return "it has no valid host and port"
    if url.scheme.startswith("socks") and importlib.util.find_spec("socksio") is None:
        return "SOCKS proxies need the socksio package (pip install 'httpx[socks]')"
    return None


def _bypassed(host: str, port: int, environ: Mapping[str, str]) -> bool:
    """Whether ``no_proxy`` / ``NO_PROXY`` sends this host directly."""
    value = environ.get("no_proxy", "").strip() or environ.get("NO_PROXY", "").strip()
    host = host.lower().rstrip(".").strip("[]")
    for entry in re.split(r"[\s,]+", value.lower()):
        entry = entry.split("://", 1)[-1].rstrip("/")
        if entry == "*":
            return True
        pattern, wanted = _split_port(entry)
        if pattern and (wanted is None or wanted == port) and _host_matches(host, pattern):
            return True
    return False


def _split_port(entry: str) -> Tuple[str, Optional[int]]:
    if entry.startswith("["):  # [::1]:8080
        pattern, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif entry.count(":") == 1:  # host:8080 (a bare IPv6 address has more colons)
        pattern, port = entry.split(":")
    else:
        pattern, port = entry, ""
    if port and not port.isdigit():
        return "", None
    return pattern, int(port) if port else None


def _host_matches(host: str, pattern: str) -> bool:
    pattern = pattern.lstrip("*").lstrip(".").rstrip(".")
    if not pattern:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == pattern or host.endswith("." + pattern)
    try:
        return address in ipaddress.ip_network(pattern, strict=False)
    except ValueError:
        return False


# -- the deadline of a whole request --------------------------------------------------------


class Deadline:
    """The deadline of the request in progress on this thread, if any."""

    def __init__(self) -> None:
        self._local = threading.local()

    @contextlib.contextmanager
    def bound(self, seconds: float) -> Iterator[None]:
        self._local.until = time.monotonic() + seconds
        self._local.seconds = seconds
        try:
            yield
        finally:
            self._local.until = None

    def message(self) -> str:
        return "the request took longer than the %g s request timeout" % getattr(self._local, "seconds", 0)

    def run(self, operation: Callable[[Optional[float]], T], timeout: Optional[float], late: type) -> T:
        """``operation(t)`` with ``t`` the smaller of ``timeout`` and the time
        left; ``late`` (an httpcore timeout) when the deadline stopped it."""
        until = getattr(self._local, "until", None)
        if until is None:
            return operation(timeout)
        left = until - time.monotonic()
        if left <= 0:
            raise late(self.message())
        if timeout is not None and timeout < left:
            return operation(timeout)
        try:
            return operation(left)
        except late:
            raise late(self.message()) from None


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's network backend with every step under the ``Deadline``."""

    def __init__(self, inner: httpcore.NetworkBackend, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def connect_tcp(self, host: str, port: int, timeout: Optional[float] = None,
                    local_address: Optional[str] = None, socket_options: Any = None) -> httpcore.NetworkStream:
        addresses = self._deadline.run(lambda t: _resolve(host, port, t), timeout, httpcore.ConnectTimeout)
        failure: Optional[Exception] = None
        for address in addresses:  # as socket.create_connection: each address in turn
            try:
                stream = self._deadline.run(
                    lambda t, a=address: self._inner.connect_tcp(a, port, t, local_address, socket_options),
                    timeout, httpcore.ConnectTimeout)
                return DeadlineStream(stream, self._deadline)
            except httpcore.ConnectError as exc:
                failure = exc
        raise failure or httpcore.ConnectError("no address for %s" % host)

    def connect_unix_socket(self, path: str, timeout: Optional[float] = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:
        stream = self._deadline.run(
            lambda t: self._inner.connect_unix_socket(path, t, socket_options), timeout, httpcore.ConnectTimeout)
        return DeadlineStream(stream, self._deadline)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: Optional[float] = None) -> bytes:
        return self._deadline.run(lambda t: self._stream.read(max_bytes, t), timeout, httpcore.ReadTimeout)

    def write(self, buffer: bytes, timeout: Optional[float] = None) -> None:
        for start in range(0, len(buffer), _WRITE_CHUNK):
            chunk = buffer[start:start + _WRITE_CHUNK]
            self._deadline.run(lambda t, c=chunk: self._stream.write(c, t), timeout, httpcore.WriteTimeout)

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: Any, server_hostname: Optional[str] = None,
                  timeout: Optional[float] = None) -> httpcore.NetworkStream:
        stream = self._deadline.run(
            lambda t: self._stream.start_tls(ssl_context, server_hostname, t), timeout, httpcore.ConnectTimeout)
        return DeadlineStream(stream, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class NameNotResolved(httpcore.ConnectError):
    """The backend's host name does not resolve. (A class, not a cause:
    httpcore's pool drops the causes of what it re-raises.)"""


class NameLookupTimeout(httpcore.ConnectTimeout):
    """The lookup of the backend's host name did not finish in time."""


def _resolve(host: str, port: int, timeout: Optional[float]) -> List[str]:
    """The host's addresses; the lookup runs in a thread so that a resolver
    that does not answer cannot hold the request past its timeout."""
    try:
        ipaddress.ip_address(host)
        return [host]
    except ValueError:
        pass
    found: dict = {}

    def lookup() -> None:
        try:
            found["addresses"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            found["error"] = exc

    worker = threading.Thread(target=lookup, name="igny8-resolve", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise NameLookupTimeout("looking up %s took longer than %g s" % (host, timeout or 0))
    if "error" in found:
        raise NameNotResolved(str(found["error"]))
    addresses: List[str] = []
    for info in found["addresses"]:
        if info[4][0] not in addresses:
            addresses.append(info[4][0])
    return addresses


class BoundedTransport(httpx.HTTPTransport):
    """httpx's transport through ``proxy`` (None: direct), every socket step
    under ``deadline``; the environment is not read."""

    def __init__(self, *, verify: Any, proxy: Optional[str], deadline: Deadline) -> None:
        super().__init__(verify=verify, proxy=proxy, trust_env=False)
        pool = getattr(self, "_pool", None)
        inner = getattr(pool, "_network_backend", None)
        if inner is None:  # httpx / httpcore changed: refuse to run unbounded
            raise RuntimeError("cannot bound requests with this httpx / httpcore version")
        pool._network_backend = DeadlineBackend(inner, deadline)


# -- response bodies ----------------------------------------------------------------------


class Inflater:
    """``Content-Encoding`` gzip / deflate decoding that never produces more
    than the caller allows (zlib's ``max_length``); identity passes through.
    Anything else raises httpx.DecodingError: we only ask for gzip, deflate."""

    def __init__(self, header: str) -> None:
        codings = [c.strip().lower() for c in header.split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise httpx.DecodingError("unsupported content encoding %r" % header[:40])
        self._deflate = codings == ["deflate"]
        self._first = True
        self._zlib: Any = None
        if codings:
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | (0 if self._deflate else 16))

    def feed(self, data: bytes, limit: int) -> bytes:
        """Decoded bytes of ``data``; if there are more than ``limit - 1``, at
        least ``limit`` (the caller then stops)."""
        if self._zlib is None:
            return data
        first, self._first = self._first, False
        try:
            return self._zlib.decompress(data, max(1, limit))
        except zlib.error as exc:
            if first and self._deflate:  # raw deflate without the zlib header, as httpx accepts
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.feed(data, limit)
            raise httpx.DecodingError("invalid %s data: %s" % ("deflate" if self._deflate else "gzip", exc)) from None

    def finish(self, limit: int) -> bytes:
        if self._zlib is None:
            return b""
        try:
            return self._zlib.flush(max(1, limit))
        except zlib.error as exc:
            raise httpx.DecodingError("invalid compressed data: %s" % exc) from None
