"""HTTP to the backend, below the API: one ``Transport`` per run.

It owns the run's ``httpx.Client`` and everything about getting bytes to and
from the backend's origin safely:

* the API URL: ``https://``, or plain ``http://`` for a loopback backend only;
* TLS always verified (the system's CA directory, httpx's bundle, or
  ``--ca-bundle``); proxies chosen by ``network.proxy_for``, never by httpx;
* the ``Authorization`` header sent to this origin only (redirects are the
  API client's to follow or refuse);
* each request bounded as a whole by ``--timeout`` (``network.Deadline``),
  its response read up to ``max_response_bytes`` and inflated within it;
* transient failures (``TransientError``) retried with exponential backoff,
  full jitter and ``Retry-After``, all within one time budget per run; each
  wait reported to ``notify`` (a terminal shows it). With ``fail_fast``
  (commands a person waits for) a backend that cannot be reached at all —
  the name does not resolve, the connection is refused, TLS fails — is not
  retried: ``Unreachable`` at once, with a hint to check ``--api-url``.

Every message it raises or logs is one line, at most ~300 characters, and
never contains the API key.
"""

from __future__ import annotations

import logging
import os
import re
import ssl
import time
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple, TypeVar

import httpx
import tenacity

from igny8_agent import __version__
from igny8_agent.errors import BackendError, ConfigError, TransientError
from igny8_agent.network import BoundedTransport, Deadline, Inflater, connect_failure, proxy_for
from igny8_agent.httpbits import MAX_MESSAGE, Origin, _http_date, parse_api_url
from igny8_agent.tlstrust import bundled_trust, certificate_rejected, system_trust

# One logger for everything -v shows about talking to the backend.
log = logging.getLogger("igny8_agent.client")

T = TypeVar("T")
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")  # what may follow "Bearer " in a header
_DIGITS = re.compile(r"[0-9]+")


NEXT_RUN = "the next run will retry"
FAST_CONNECT = 5.0  # seconds for a name lookup, a connect, a handshake when someone waits


class Unreachable(TransientError):
    """The backend could not be reached at all; ``kind`` says why
    (``network.connect_failure``), ``reason`` in words."""

    def __init__(self, message: str, kind: str, reason: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.reason = reason


class CertificateRejected(BackendError):
    """The backend's TLS certificate was not accepted (nothing was sent)."""


class Reply(NamedTuple):
    """One HTTP response, body already read (None when over the size cap)."""

    status: int
    reason: str
    headers: httpx.Headers
    body: Optional[bytes]
    url: httpx.URL


class Transport:
    """The run's HTTP client for one backend origin."""

    def __init__(
        self,
        api_url: str,
        api_key: str,
        *,
        timeout: float,
        ca_bundle: Optional[str],
        retry_budget: float,
        max_response_bytes: int,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        transport: Optional[httpx.BaseTransport] = None,
        fail_fast: bool = False,
        then: str = NEXT_RUN,
        notify: Optional[Callable[[str], None]] = None,
    ) -> None:
        if not isinstance(api_key, str) or not _HEADER_SAFE.fullmatch(api_key):
            raise ConfigError(
                "the API key is empty or contains characters that cannot be sent in an HTTP header"
            )
        self._key = api_key
        self.base, self.origin = self._parse_api_url(api_url)
        self._sleep = sleep
        self._clock = clock
        self._budget = max(0.0, float(retry_budget))
        self._budget_start: Optional[float] = None
        # A 429 or Retry-After seen by one request holds back every request of
        # the run (``sync --all`` shares one Transport between its workers).
        self._hold_until = 0.0
        self.max_bytes = int(max_response_bytes)
        self._request_seconds = float(timeout)
        self._deadline = Deadline()
        self._backoff = tenacity.wait_random_exponential(multiplier=1, max=60)
        self.attempts = 0
        # The last response's Date header and this host's time when it came: (server, local).
        self.clock_sample: Optional[Tuple[datetime, datetime]] = None
        self._fail_fast = fail_fast
        self._then = then
        self._notify = notify
        self._proxy: Optional[str] = None
        verify = self._verify(ca_bundle)
        if transport is None:
            scheme, host, port = self.origin
            proxy = self._proxy = proxy_for(scheme, host, port, os.environ)
            if proxy:
                shown = httpx.URL(proxy)
                log.debug("%s:%d through the proxy %s://%s:%s", host, port, shown.scheme, shown.host, shown.port)
            transport = BoundedTransport(verify=verify, proxy=proxy, deadline=self._deadline)
        self._http = httpx.Client(
            headers={
                "Authorization": "Bearer " + api_key,
                "Accept": "application/json",
                # Only what Inflater decodes within the size cap.
                "Accept-Encoding": "gzip, deflate",
                "User-Agent": "igny8-agent/" + __version__,
            },
            timeout=httpx.Timeout(timeout, connect=min(timeout, FAST_CONNECT if fail_fast else 10.0)),
            follow_redirects=False,
            transport=transport,
            trust_env=False,
        )

    def close(self) -> None:
        self._http.close()

    # -- retrying --------------------------------------------------------------------

    def retrying(self, attempt: Callable[[], T], what: str) -> T:
        """``attempt()`` again after each TransientError, until it succeeds,
        fails otherwise, or the run's retry budget is spent."""
        started = self._clock()
        if self._budget_start is None:
            self._budget_start = started
        waits: Dict[int, float] = {}
        slowed = [False]  # the last failure asked the run to slow down

        def next_wait(state: tenacity.RetryCallState) -> float:
            # Computed once per attempt: tenacity asks `stop` and `wait` in an
            # order that differs between versions, both must see the same value.
            if state.attempt_number not in waits:
                failure = state.outcome.exception() if state.outcome else None
                retry_after = getattr(failure, "retry_after", None) or 0.0
                waits[state.attempt_number] = max(self._backoff(state), retry_after)
                slowed[0] = bool(retry_after) or getattr(failure, "status", None) == 429
            return waits[state.attempt_number]

        def over_budget(state: tenacity.RetryCallState) -> bool:
            assert self._budget_start is not None
            spent = self._clock() - self._budget_start
            return self._budget <= 0 or spent + next_wait(state) > self._budget

        def sleep(seconds: float) -> None:
            log.debug("waiting %.1f s before retrying %s", seconds, what)
            if slowed[0]:
                self._hold_until = max(self._hold_until, self._clock() + seconds)
            self._sleep(seconds)

        def worth_retrying(failure: BaseException) -> bool:
            return isinstance(failure, TransientError) and not (self._fail_fast and isinstance(failure, Unreachable))

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(worth_retrying),
            stop=over_budget,
            wait=next_wait,
            sleep=sleep,
            before_sleep=self._announce if self._notify else None,
            reraise=False,
        )
        try:
            return retrying(attempt)
        except Unreachable as exc:  # not retried: fail_fast
            raise self.error(Unreachable, "cannot reach the backend at %s: %s; %s"
                             % (self.base, exc.reason, self._hint()), kind=exc.kind, reason=exc.reason) from exc
        except tenacity.RetryError as exc:
            last = exc.last_attempt
            failure = last.exception()
            assert isinstance(failure, TransientError)
            raise self._exhausted(failure, last.attempt_number, started) from failure

    def _announce(self, state: tenacity.RetryCallState) -> None:
        """Tell ``notify`` what the run waits for: "the backend answered 503; retry 3 in 4 s"."""
        failure = state.outcome.exception() if state.outcome else None
        seconds = state.next_action.sleep if state.next_action else 0.0
        if isinstance(failure, Unreachable):
            what = failure.reason
        elif isinstance(failure, TransientError) and failure.status:
            what = "the backend answered %d" % failure.status
        else:
            what = str(failure)
        left = self._budget - (self._clock() - (self._budget_start or 0.0))
        assert self._notify is not None
        self._notify(self.clean("%s; retry %d in %s s (retrying for up to %.0f s more; Ctrl-C stops)"
                                % (what, state.attempt_number, _seconds(seconds), max(0.0, left))))

    def _hint(self) -> str:
        return "check --api-url" + (" and the proxy settings" if self._proxy else "")

    def _exhausted(self, failure: TransientError, attempts: int, started: float) -> TransientError:
        elapsed = max(0.0, self._clock() - started)
        message = "the backend is unavailable: %s (%d attempt%s in %.0f s" % (
            failure.message, attempts, "" if attempts == 1 else "s", elapsed,
        )
        if failure.retry_after and failure.retry_after > self._budget:
            message += "; it asked to wait %.0f s" % failure.retry_after
        elif attempts == 1 and self._budget > 0:
            message += "; the %.0f s retry budget of this run is spent" % self._budget
        if isinstance(failure, Unreachable) and failure.kind != "timeout":
            message += "; %s" % self._hint()
        message += "); " + self._then
        return self.error(TransientError, message, status=failure.status, retry_after=failure.retry_after)

    # -- one request -------------------------------------------------------------------

    def _hold_back(self) -> None:
        """Another request of this run was told to slow down (429, Retry-After):
        wait with it, within what is left of the run's retry budget. Checked
        right before sending, so no worker's request slips out meanwhile."""
        start = self._budget_start if self._budget_start is not None else self._clock()
        left = min(self._hold_until, start + self._budget) - self._clock()
        if left > 0:
            log.debug("waiting %.1f s: the backend asked this run to slow down", left)
            self._sleep(left)

    def send(self, method: str, url: httpx.URL, content: Optional[bytes]) -> Reply:
        """One request, its body read within the cap, all within the timeout.
        Network failures are TransientError; a refused certificate or a body
        that cannot be decoded, BackendError."""
        self._hold_back()
        self.attempts += 1
        headers = {"Content-Type": "application/json"} if content is not None else None
        log.debug("%s %s (attempt %d; Authorization: Bearer ***)", method, url, self.attempts)
        try:
            with self._deadline.bound(self._request_seconds):
                deadline = time.monotonic() + self._request_seconds
                response = self._http.send(
                    self._http.build_request(method, url, content=content, headers=headers), stream=True
                )
                served = _http_date(response.headers.get("Date") or "")
                if served is not None:
                    self.clock_sample = (served, datetime.now(timezone.utc))
                try:
                    body = self._read_capped(response, deadline)
                finally:
                    response.close()
        except httpx.TransportError as exc:
            if certificate_rejected(exc):
                raise self.error(
                    CertificateRejected,
                    "the backend's TLS certificate was not accepted (%s). Check --api-url and the CA bundle"
                    % exc,
                ) from exc
            log.debug("%s %s failed: %s", method, url, self.clean(_describe(exc)))
            message = "connection failed: %s" % _describe(exc)
            kind = connect_failure(exc)
            if kind is not None:
                raise self.error(Unreachable, message, kind=kind, reason=self.clean(self._why(kind, exc))) from exc
            raise self.error(TransientError, message) from exc
        except httpx.DecodingError as exc:
            raise self.error(BackendError, "the backend's response could not be decoded: %s" % exc) from exc
        reason = response.reason_phrase or httpx.codes.get_reason_phrase(response.status_code)
        log.debug("%s %s -> %d %s", method, url, response.status_code, reason)
        return Reply(response.status_code, reason, response.headers, body, response.url)

    def _read_capped(self, response: httpx.Response, deadline: float) -> Optional[bytes]:
        """The body, or None as soon as it is known to exceed the cap (the rest
        is never read). A compressed body is inflated here, never past the cap:
        httpx's own decoders inflate a whole chunk at once (a gzip bomb).
        Past ``deadline`` (time.monotonic()) it gives up with httpx.ReadTimeout
        (the sockets themselves are bounded by ``network.Deadline``)."""
        limit = self.max_bytes
        declared = response.headers.get("Content-Length", "").strip()
        # ASCII digits only ("²".isdigit() is true); a long one is over any cap.
        if _DIGITS.fullmatch(declared) and (len(declared) > 18 or int(declared) > limit):
            return None
        if response.is_stream_consumed:  # built from bytes (a mock): httpx has decoded it already
            body = response.content
            return body if len(body) <= limit else None
        inflater = Inflater(response.headers.get("Content-Encoding", ""))
        chunks: List[bytes] = []
        size = 0
        for raw in response.iter_raw():
            if time.monotonic() > deadline:
                raise httpx.ReadTimeout(self._deadline.message())
            chunk = inflater.feed(raw, limit + 1 - size)
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        chunk = inflater.finish(limit + 1 - size)
        if size + len(chunk) > limit:
            return None
        chunks.append(chunk)
        return b"".join(chunks)

    def _why(self, kind: str, exc: Exception) -> str:
        """Why the backend could not be reached, in words (``network.connect_failure``)."""
        _, host, port = self.origin
        where = "%s:%d" % (host, port)
        if kind == "dns":
            return "the host name %s does not resolve" % host
        if kind == "refused":
            return "the connection to %s was refused" % where
        if kind == "tls":
            return "the TLS handshake with %s failed (%s; is it an https:// server?)" % (where, str(exc) or "no reason given")
        return "no connection to %s within %g s" % (where, self._http.timeout.connect or self._request_seconds)

    # -- the origin ------------------------------------------------------------------------

    def _parse_api_url(self, api_url: Any) -> Tuple[str, Origin]:
        return parse_api_url(api_url, self.clean)

    def _verify(self, ca_bundle: Optional[str]) -> Any:
        """What httpx verifies TLS with. Plain http (loopback only) never does
        TLS, so no certificate store is loaded for it."""
        if self.origin[0] != "https":
            return False
        if not ca_bundle:
            trust = system_trust() or bundled_trust()
            if trust is None:
                raise ConfigError(
                    "no CA certificates to verify the backend with: install the system's CA "
                    "certificates (ca-certificates) or set a CA bundle (config backend --ca-bundle)")
            return trust
        try:
            return ssl.create_default_context(cafile=ca_bundle)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise ConfigError(self.clean("cannot use the CA bundle %s: %s" % (ca_bundle, exc))) from None

    # -- messages ----------------------------------------------------------------------------

    def clean(self, text: str) -> str:
        """One line, no API key, at most MAX_MESSAGE characters."""
        if self._key:
            text = text.replace(self._key, "***")
        text = text[: MAX_MESSAGE * 4]  # error bodies can be huge; only the start is shown
        text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
        if len(text) > MAX_MESSAGE:
            text = text[: MAX_MESSAGE - 3].rstrip() + "..."
        return text

    def error(self, cls: Any, message: str, **kwargs: Any) -> Any:
        return cls(self.clean(message), **kwargs)


def _seconds(value: float) -> str:
    return "%.0f" % value if value >= 1 else "%.1f" % value


def _describe(exc: Exception) -> str:
    text = str(exc).strip()
    return "%s: %s" % (type(exc).__name__, text) if text else type(exc).__name__
