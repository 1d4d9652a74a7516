"""What the local indices share: ranking passage positions, a fixed latency, atomic cache files."""
from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable, TypeVar

T = TypeVar("T")
MANIFEST_SUFFIX = ".manifest.json"

from orchestra_env.data.corpus import Corpus
from orchestra_env.tools.search.base import SearchResult
from orchestra_env.usage import Catalogue, Usage


def default_latency() -> float:
    """The latency local indices report: fixed, so that episodes replay identically."""
    return Catalogue.default().tools.local_search_latency_s


def digest(*parts: Any) -> str:
    """A short stable hash of ``parts``: the cache key of an index built from them."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def atomic_save(target: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` into a temporary sibling, then rename: a killed build leaves no half file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        staged = tmp / target.name
        write(staged)
        if target.exists():  # another process finished first: keep theirs
            return
        os.replace(staged, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _checksums(target: Path) -> dict[str, str]:
    """sha256 of the entry's file, or of every file under the entry's folder (relative names)."""
    files = [target] if target.is_file() else sorted(p for p in target.rglob("*") if p.is_file())
    sums = {}
    for path in files:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        sums[path.name if path == target else str(path.relative_to(target))] = h.hexdigest()
    return sums


def _manifest_path(target: Path) -> Path:
    return target.with_name(target.name + MANIFEST_SUFFIX)


def save_entry(target: Path, write: Callable[[Path], None], fingerprint: str) -> None:
    """Save a cache entry atomically, then its manifest (checksums + corpus fingerprint).

    An entry without a manifest is treated as corrupt on load, so a crash between the two
    renames costs a rebuild, never a wrong index."""
    atomic_save(target, write)
    manifest = {"fingerprint": fingerprint, "files": _checksums(target)}
    atomic_save(_manifest_path(target), lambda f: f.write_text(json.dumps(manifest, sort_keys=True)))


def load_entry(target: Path, fingerprint: str, load: Callable[[Path], T]) -> T | None:
    """``load(target)`` if the entry matches its manifest, else ``None`` after a warning and
    removing the entry (the caller rebuilds it). Catches every way a file can be wrong:
    missing, truncated, overwritten, extra, or from another corpus."""
    manifest_path = _manifest_path(target)
    if not target.exists() and not manifest_path.exists():
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
        if not isinstance(manifest, dict) or manifest.get("fingerprint") != fingerprint:
            raise ValueError("its corpus fingerprint does not match")
        if _checksums(target) != manifest.get("files"):
            raise ValueError("its files do not match the manifest's checksums")
        return load(target)
    except Exception as exc:  # noqa: BLE001 - any unreadable entry is rebuilt, whatever the library raised
        warnings.warn(f"search cache entry {target} is unusable ({type(exc).__name__}: {exc}); rebuilding it",
                      RuntimeWarning, stacklevel=3)
        discard_entry(target)
        return None


def discard_entry(target: Path) -> None:
    """Remove an entry and its manifest."""
    if target.is_dir():
        shutil.rmtree(target, ignore_errors=True)
    else:
        target.unlink(missing_ok=True)
    _manifest_path(target).unlink(missing_ok=True)


class LocalIndex(ABC):
    """An index over a :class:`Corpus`; subclasses only rank passage positions."""

    corpus: Corpus
    latency_s: float
    from_cache: bool = False  # loaded from disk rather than built in this process

    @abstractmethod
    def ranked(self, query: str, k: int) -> list[tuple[int, float]]:
        """Up to ``k`` (passage position, score) pairs, best first."""

    def search(self, query: str, k: int = 5) -> SearchResult:
        hits = self.ranked(query, k) if query.strip() and k > 0 else []
        return SearchResult(
            passages=[self.corpus[i] for i, _ in hits],
            usage=Usage(cost_usd=0.0, latency_s=self.latency_s),
            scores=[s for _, s in hits],
        )

    def with_latency(self, latency_s: float) -> "LocalIndex":
        """A view sharing this index's data but reporting another latency."""
        view = copy.copy(self)
        view.latency_s = latency_s
        return view
