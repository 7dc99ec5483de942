"""The project's own exceptions.

Each carries the one-line message the operator sees. The CLI maps the class
to an exit code in one place (``cli.EXIT_CODES``); nothing here knows about
the terminal.
"""

from __future__ import annotations


class Igny8Error(Exception):
    """Base class: ``str(err)`` is the user-facing message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(Igny8Error):
    """Local configuration is missing or wrong: wp-config.php, the agent's
    config file, a table prefix, an option value. Needs an operator."""


class ParseError(ConfigError):
    """Text that could not be parsed (wp-config.php, PHP-serialized data)."""


class NotConnectedError(ConfigError):
    """The site has not been connected yet (no key or no site id)."""


class DatabaseError(Igny8Error):
    """The WordPress database could not be reached or read."""


class BackendError(Igny8Error):
    """The backend refused the request; retrying will not help."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthError(BackendError):
    """The API key was rejected (401/403) or belongs to another account."""


class SiteError(BackendError):
    """Site not found, not active, or this copy of the site is not the one
    that was connected."""


class IntegrationMissing(BackendError):
    """404 on an integration: it was deleted on the backend."""


class TransientError(Igny8Error):
    """A failure that may clear by itself (network, 5xx, 429, timeouts).
    The next scheduled run retries."""

    def __init__(
        self, message: str, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class LockBusy(Igny8Error):
    """Another sync for the same site is running."""


class Interrupted(Igny8Error):
    """SIGINT / SIGTERM arrived; the run stopped cleanly."""
