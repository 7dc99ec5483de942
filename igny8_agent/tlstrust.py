"""Which certificate authorities the agent trusts for the backend: the
host's own trust store, as its administrator keeps it."""

from __future__ import annotations

import os
import re
import ssl
from typing import List, Mapping, Optional, Tuple

_HASHED_CERT = re.compile(r"\A[0-9a-f]{8}\.\d+\Z")


# Where distributions keep the system's CA bundle when OpenSSL's built-in
# defaults do not point at one (Debian, RHEL/Fedora, openSUSE, RHEL's extracted
# trust, Alpine/BSD): the same places Go's crypto/x509 looks.
CA_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
)


def system_trust(environ: Mapping[str, str] = os.environ) -> Optional[ssl.SSLContext]:
    """The host's trust store, as its administrator keeps it; None if it has none.

    In order: ``SSL_CERT_FILE`` when set (OpenSSL's own override); OpenSSL's
    hashed CA directory (``capath``, Debian and Ubuntu), where a certificate
    is looked up only when a handshake needs it - about 1 ms, where loading a
    whole bundle costs 20-50 ms on every run; else OpenSSL's CA bundle file
    (RHEL, Fedora and Alpine ship only that); else a distribution's usual
    bundle (``CA_BUNDLES``).
    """
    defaults = ssl.get_default_verify_paths()
    explicit = environ.get("SSL_CERT_FILE", "")
    candidates: List[Tuple[str, str]] = [("cafile", explicit)] if explicit else []
    candidates += [("capath", defaults.capath or "")]
    candidates += [("cafile", name) for name in (defaults.cafile or "", *CA_BUNDLES)]
    for kind, where in candidates:
        try:
            if kind == "capath":
                if where and any(_HASHED_CERT.match(name) for name in os.listdir(where)):
                    return ssl.create_default_context(capath=where)
            elif where and os.path.isfile(where):
                return ssl.create_default_context(cafile=where)
        except (OSError, ssl.SSLError, ValueError):
            continue
    return None


def bundled_trust() -> Optional[ssl.SSLContext]:
    """certifi's CA bundle, for a host without a trust store of its own, but
    only where it is a real file: from inside a zip archive reading it would
    mean unpacking it into a temporary directory first."""
    try:
        import certifi
    except ImportError:
        return None
    bundle = os.path.join(os.path.dirname(certifi.__file__), "cacert.pem")
    try:
        return ssl.create_default_context(cafile=bundle) if os.path.isfile(bundle) else None
    except (OSError, ssl.SSLError):
        return None


def certificate_rejected(exc: BaseException) -> bool:
    seen = 0
    current: Optional[BaseException] = exc
    while current is not None and seen < 10:
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        current = current.__cause__ or current.__context__
        seen += 1
    return False
