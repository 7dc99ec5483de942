"""How this igny8-agent was installed, and which Python runs it (``--version``).

One of:

- ``.pyz``: the one-file build (scripts/build-pyz); its archive, build id and
  whether it runs from its unpacked copy in the user's cache or from the zip;
- ``pipx``: a virtualenv that pipx made (it keeps ``pipx_metadata.json`` in it);
- ``venv``: the package in another virtualenv's site-packages;
- ``source checkout``: imported from a checkout of the repository (an editable
  install, or ``PYTHONPATH``), in a virtualenv or not;
- ``user site``: ``pip install --user``;
- ``system``: the system Python's site-packages (a distribution package, or
  ``pip install`` as root).

Standard library only, and no module the CLI has not loaded already:
``--version`` must stay fast.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Mapping, NamedTuple, Optional

PIPX_METADATA = "pipx_metadata.json"


class Installation(NamedTuple):
    kind: str  # ".pyz", "pipx", "venv", "source checkout", "user site", "system"
    where: str  # the archive, environment or directory it runs from
    note: str = ""  # more about it, e.g. the .pyz's build and cache


def _inside(path: str, directory: str) -> bool:
    if not directory:
        return False
    directory = os.path.join(os.path.realpath(directory), "")
    return os.path.join(os.path.realpath(path), "").startswith(directory)


def detect(
    package_dir: Optional[str] = None,
    prefix: Optional[str] = None,
    base_prefix: Optional[str] = None,
    modules: Optional[Mapping[str, Any]] = None,
    user_site: Optional[str] = None,
) -> Installation:
    """How the ``igny8_agent`` package in ``package_dir`` was installed.

    The arguments default to this process (``igny8_agent``'s directory,
    ``sys.prefix``, ``sys.base_prefix``, ``sys.modules``, ``site.USER_SITE``);
    tests pass their own."""
    modules = sys.modules if modules is None else modules
    pyz = modules.get("igny8_agent._pyz")
    if pyz is not None:
        return _pyz_installation(pyz)
    if package_dir is None:
        package_dir = os.path.dirname(os.path.abspath(__file__))
    prefix = sys.prefix if prefix is None else prefix
    base_prefix = getattr(sys, "base_prefix", prefix) if base_prefix is None else base_prefix
    if user_site is None:
        site = modules.get("site")
        user_site = getattr(site, "USER_SITE", None) or ""
    root = os.path.dirname(package_dir)  # the directory on sys.path
    in_venv = os.path.realpath(prefix) != os.path.realpath(base_prefix)
    if not _inside(package_dir, prefix) and not (user_site and _inside(package_dir, user_site)):
        if os.path.isfile(os.path.join(root, "pyproject.toml")):
            return Installation("source checkout", root, f"virtualenv {prefix}" if in_venv else "")
        return Installation("other", root, f"virtualenv {prefix}" if in_venv else "")
    if in_venv:
        if os.path.isfile(os.path.join(prefix, PIPX_METADATA)):
            return Installation("pipx", prefix)
        return Installation("venv", prefix)
    if user_site and _inside(package_dir, user_site):
        return Installation("user site", root)
    return Installation("system", root)


def _pyz_installation(pyz: Any) -> Installation:
    archive = getattr(pyz, "ARCHIVE", None) or "?"
    build = getattr(pyz, "BUILD_ID", "?")
    run_from = getattr(pyz, "RUN_FROM", None)
    if run_from:
        note = f"build {build}, unpacked in {run_from}"
    else:
        why = getattr(pyz, "WHY_NOT_UNPACKED", None)
        note = f"build {build}, run from the archive" + (f": {why}" if why else "")
    return Installation(".pyz", archive, note)


def describe(installation: Optional[Installation] = None) -> str:
    """The lines ``--version`` prints after ``igny8-agent <version>``."""
    found = detect() if installation is None else installation
    text = f"installed: {found.kind} {found.where}"
    if found.note:
        text += f" ({found.note})"
    python = f"python: {sys.version.split()[0]} {sys.executable or '(unknown executable)'}"
    return text + "\n" + python


def running_from_pyz() -> bool:
    return "igny8_agent._pyz" in sys.modules
