"""Cached search indices cannot be poisoned: every file of an entry is checked on load.

A sandboxed program (or a crash, a full disk, a stray editor) that damages any file of a
cached index must cost a rebuild with a warning, never a failing or wrong search.
"""
from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest

from orchestra_env.tools.search import clear_shared_indices
from orchestra_env.tools.search.bm25 import BM25Index
from orchestra_env.tools.search.dense import DenseIndex
from orchestra_env.tools.search.local import MANIFEST_SUFFIX, discard_entry
from test_search import HashingEncoder, toy_corpus

QUERIES = ["string instrument bow", "lava and ash", "board game pieces"]


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ORCHESTRA_CACHE", str(tmp_path / "cache"))
    clear_shared_indices()
    yield tmp_path / "cache"
    clear_shared_indices()


def build(kind: str):
    return BM25Index(toy_corpus()) if kind == "bm25" else DenseIndex(toy_corpus(), HashingEncoder())


def answers(index) -> list[list[str]]:
    return [[p.doc_id for p in index.search(q, 3).passages] for q in QUERIES]


def entry_files(cache: Path) -> list[Path]:
    """Every file of every cached entry, manifests included."""
    return sorted(p for p in (cache).rglob("*") if p.is_file() and not p.name.startswith("."))


CORRUPTIONS = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: max(1, p.stat().st_size // 2)]),
    "junk": lambda p: p.write_bytes(b"{not json at all" * 3),
    "emptied": lambda p: p.write_bytes(b""),
    "deleted": lambda p: p.unlink(),
}


@pytest.mark.parametrize("how", list(CORRUPTIONS))
@pytest.mark.parametrize("kind", ["bm25", "dense"])
def test_cache_entry_with_any_damaged_file_is_rebuilt_with_a_warning(cache: Path, kind: str, how: str) -> None:
    expected = answers(build(kind))
    files = entry_files(cache)
    assert any(f.name.endswith(MANIFEST_SUFFIX) for f in files) and len(files) >= 2
    for victim in files:
        shutil.rmtree(cache)  # start from a good cache each time
        build(kind)
        CORRUPTIONS[how](victim)
        if victim.parent.name == "embeddings":  # only read when the faiss entry is missing
            for faiss_file in cache.rglob("*.faiss"):
                discard_entry(faiss_file)
        with pytest.warns(RuntimeWarning, match="unusable.*rebuilding"):
            rebuilt = build(kind)
        assert answers(rebuilt) == expected, victim.name
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the rebuilt entry is whole again: loads silently
            again = build(kind)
        assert again.from_cache and answers(again) == expected


def test_cache_entry_of_another_corpus_is_not_trusted(cache: Path) -> None:
    BM25Index(toy_corpus())
    manifest = next(cache.rglob(f"*{MANIFEST_SUFFIX}"))
    data = json.loads(manifest.read_text())
    data["fingerprint"] = "someone-elses-corpus"
    manifest.write_text(json.dumps(data))
    with pytest.warns(RuntimeWarning, match="fingerprint does not match"):
        assert not BM25Index(toy_corpus()).from_cache


def test_cache_file_overwritten_with_consistent_but_wrong_data_is_caught(cache: Path) -> None:
    """An attacker who also rewrites the manifest still cannot make the index mis-sized."""
    import numpy as np

    from orchestra_env.tools.search import local

    DenseIndex(toy_corpus(), HashingEncoder())
    npy = next(cache.rglob("*.npy"))
    np.save(npy, np.zeros((2, 64), dtype=np.float32))
    manifest = npy.with_name(npy.name + MANIFEST_SUFFIX)
    manifest.write_text(json.dumps({"fingerprint": toy_corpus().fingerprint, "files": local._checksums(npy)}))
    for faiss_file in cache.rglob("*.faiss"):
        local.discard_entry(faiss_file)
    with pytest.warns(RuntimeWarning, match="holds 2 vectors"):
        index = DenseIndex(toy_corpus(), HashingEncoder())
    assert len(index.search("lava and ash", 3).passages) == 3


def test_cache_file_rewritten_with_loadable_wrong_data_is_caught_by_its_checksum(cache: Path) -> None:
    """Poison that still loads (right shape, wrong vectors) is caught only by the checksum."""
    import numpy as np

    from orchestra_env.tools.search import local

    expected = answers(DenseIndex(toy_corpus(), HashingEncoder()))
    npy = next(cache.rglob("*.npy"))
    vectors = np.load(npy)
    np.save(npy, vectors[::-1].copy())  # every passage now has another passage's vector
    for faiss_file in cache.rglob("*.faiss"):
        local.discard_entry(faiss_file)
    with pytest.warns(RuntimeWarning, match="checksums"):
        index = DenseIndex(toy_corpus(), HashingEncoder())
    assert answers(index) == expected


def test_an_existing_open_cache_folder_is_made_private(tmp_path, monkeypatch):
    """A cache made by an older version (0755) is tightened to 0700 on first use, so a
    sandboxed program running as another user cannot enter it."""
    import stat

    from orchestra_env.cache import cache_dir

    root = tmp_path / "old-cache"
    root.mkdir(mode=0o755)
    root.chmod(0o755)
    monkeypatch.setenv("ORCHESTRA_CACHE", str(root))
    cache_dir("indices")
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
