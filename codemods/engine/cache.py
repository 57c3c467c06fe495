"""The result cache, like ruff's: a run over files whose contents, settings and fixsessions
itself are unchanged is answered from the last run's result instead of being analysed again.

The key is a digest of fixsessions' version and own sources, the Python running it (a file in
newer syntax parses under a newer one), the settings, and every read file's path and content
hash (the index spans files, so one changed file changes every answer). One entry per
settings, paths named and working directory (messages name other files relative to it:
`core._Cached`), the `MAX_ENTRIES` last written or used, in ``.fixsessions_cache/`` at the
project root (or the user cache folder outside a project), written atomically, so concurrent
runs at worst both compute. JSON, never pickle: a cache folder in a cloned repository is data,
not code.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Iterable

from ..analysis.location import Location
from ..rules.base import Finding, Fix
from .. import __version__

FOLDER = ".fixsessions_cache"
_PACKAGE = Path(__file__).resolve().parent.parent.parent


def folder_for(project: Path | None) -> Path:
    if project is not None:
        return project / FOLDER
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fixsessions"


def _own_sources() -> str:
    """Changes to fixsessions itself (a development install) invalidate the cache too."""
    digest = hashlib.blake2b(__version__.encode(), digest_size=16)
    for path in sorted(_PACKAGE.glob("codemods/**/*.py")):
        stat = path.stat()
        digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def digest(settings_key: str, contents: Iterable[tuple[str, bytes]]) -> str:
    found = hashlib.blake2b(digest_size=20)
    found.update(_own_sources().encode())
    found.update(sys.version.encode())  # what parses depends on the Python that runs fixsessions
    found.update(settings_key.encode())
    for path, data in contents:
        found.update(path.encode("utf-8", "surrogateescape") + b"\0")
        found.update(hashlib.blake2b(data, digest_size=16).digest())
    return found.hexdigest()


def _entry_path(folder: Path, settings_key: str, paths_key: str) -> Path:
    name = hashlib.blake2b(f"{settings_key}\0{paths_key}".encode(), digest_size=12).hexdigest()
    return folder / f"{name}.json"


def load(folder: Path, settings_key: str, paths_key: str, key: str) -> dict | None:
    path = _entry_path(folder, settings_key, paths_key)
    try:
        with open(path, encoding="utf-8") as handle:
            entry = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("key") != key:
        return None
    try:
        os.utime(path)  # used now: the last entry `_prune` lets go
    except OSError:
        pass
    return entry.get("files")


def store(folder: Path, settings_key: str, paths_key: str, key: str, files: dict) -> None:
    """Atomically, and silently giving up where the folder cannot be written."""
    import tempfile  # here: a run answered from the cache writes nothing

    try:
        folder.mkdir(parents=True, exist_ok=True)
        ignore = folder / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# Made by fixsessions: its result cache.\n*\n")
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".entry.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"key": key, "files": files}, handle)
        os.replace(temporary, _entry_path(folder, settings_key, paths_key))
        _prune(folder)
    except OSError:
        pass


# Entries kept in one cache folder: one is made for each set of paths named and working
# directory (an editor naming one file a save makes one a file), so the folder is bounded.
MAX_ENTRIES = 64


def _prune(folder: Path) -> None:
    """Remove the entries least recently written or used beyond `MAX_ENTRIES`, and what runs
    killed while writing one left (a temporary file an hour old is no concurrent run's). A
    concurrent run may remove an entry first, or still read one: it then computes again."""
    entries, stale = [], []
    abandoned = time.time_ns() - 3600 * 10**9
    for path in (*folder.glob("*.json"), *folder.glob(".entry.*.tmp")):
        try:
            modified = path.stat().st_mtime_ns
        except OSError:
            continue
        if path.suffix == ".json":
            entries.append((modified, path))
        elif modified < abandoned:
            stale.append(path)
    for path in [p for _, p in sorted(entries, reverse=True)[MAX_ENTRIES:]] + stale:
        try:
            path.unlink()
        except OSError:
            pass


# -- results as JSON --------------------------------------------------------------------------


def finding_to_json(finding: Finding) -> dict:
    return {
        "code": finding.code, "name": finding.name, "message": finding.message,
        "path": str(finding.path), "location": asdict(finding.location),
        "fix": None if finding.fix is None else [finding.fix.applicability, finding.fix.group],
        "text_edits": finding.text_edits,
    }


def finding_from_json(data: dict) -> Finding:
    fix = None if data["fix"] is None else Fix(data["fix"][0], group=data["fix"][1])
    finding = Finding(
        data["code"], data["name"], data["message"], Path(data["path"]),
        Location(**data["location"]), fix,
    )
    finding.text_edits = data["text_edits"]
    return finding


def encode_bytes(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def decode_bytes(data: str | None) -> bytes | None:
    return None if data is None else base64.b64decode(data)
