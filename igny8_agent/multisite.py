"""A multisite network's subsites, as ``{prefix}blogs`` lists them.

WordPress serves a subsite unless it is archived, deleted or marked spam
(``ms_site_check()``); those are the subsites a whole-network run reads.
Finding the subsite an address names follows ``get_site_by_path()`` on a
subdirectory network: the address's first path segment names the subsite and
only ``/`` itself is the root site, so a mistyped subsite path is an error,
not the main site. On a subdomain network (every path ``/``) the host alone
decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from igny8_agent.database import ReadOnlySession, quote_identifier
from igny8_agent.urls import site_key


@dataclass(frozen=True)
class Subsite:
    blog_id: int
    domain: str
    path: str
    served: bool  # not archived, deleted or spam
    why_not: str = ""  # "archived", "deleted", "spam" when not served

    @property
    def address(self) -> str:
        """``domain/path/`` without a scheme: what ``--url`` and the config take
        (the scheme comes from the subsite's own home option)."""
        return f"{self.domain}{self.path}"


class Network:
    """The subsites of one network (``site_id``), served or not."""

    def __init__(self, subsites: List[Subsite]) -> None:
        self.subsites = subsites
        self._by_address: Dict[Tuple[str, Optional[int]], Dict[str, Subsite]] = {}
        for sub in subsites:
            key = site_key(sub.address)
            if key is not None:
                self._by_address.setdefault((key.host, key.port), {})[key.path] = sub

    @classmethod
    def read(cls, session: ReadOnlySession, base_prefix: str, site_id: Optional[int] = None) -> "Network":
        """Every row of ``{base_prefix}blogs`` (of network ``site_id``, if given)."""
        table = quote_identifier(base_prefix + "blogs")
        where, args = (" WHERE site_id = %s", (site_id,)) if site_id is not None else ("", ())
        rows = session.query(
            f"SELECT blog_id, domain, path, archived, deleted, spam FROM {table}{where} ORDER BY blog_id", args)
        subsites = []
        for blog_id, domain, path, archived, deleted, spam in rows:
            flags = [name for name, value in (("deleted", deleted), ("archived", archived), ("spam", spam))
                     if _flag(value)]
            subsites.append(Subsite(int(blog_id), _text(domain), _text(path) or "/", not flags, ", ".join(flags)))
        return cls(subsites)

    def served(self) -> List[Subsite]:
        return [sub for sub in self.subsites if sub.served]

    def find(self, url: str, served_only: bool = True) -> Optional[Subsite]:
        """The subsite ``url`` names, as WordPress resolves a request for it."""
        wanted = site_key(url)
        if wanted is None:
            return None
        # Every row of the host decides which subsite the address names, as
        # WordPress looks it up; then one it does not serve is not found.
        paths = self._by_address.get((wanted.host, wanted.port), {})
        first_segment = "/".join(wanted.path.split("/")[:2])
        found = None
        if first_segment in paths:
            found = paths[first_segment]
        elif "" in paths and (wanted.path == "" or set(paths) == {""}):
            found = paths[""]
        return found if found is not None and (found.served or not served_only) else None


def _flag(value: object) -> bool:
    try:
        return int(_text(value) or 0) != 0
    except ValueError:
        return True  # not a number: not what WordPress writes, and not served by it either


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)
