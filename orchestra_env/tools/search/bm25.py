"""Sparse lexical search: Okapi BM25 through bm25s, Snowball stemming via PyStemmer."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pathlib import Path

from orchestra_env.cache import cache_dir
from orchestra_env.data.corpus import Corpus
from orchestra_env.tools.search.local import LocalIndex, default_latency, digest, load_entry, save_entry


@dataclass(frozen=True)
class BM25Params:
    stemmer: str | None = "english"  # PyStemmer language; None (or PyStemmer missing) = no stemming
    stopwords: str = "en"
    k1: float = 1.5
    b: float = 0.75


class BM25Index(LocalIndex):
    """Okapi BM25 over the corpus's passages (bm25s: sparse matrix, milliseconds a query)."""

    def __init__(
        self,
        corpus: Corpus,
        params: BM25Params = BM25Params(),
        *,
        latency_s: float | None = None,
        cache: bool = True,
        show_progress: bool = False,
    ):
        import bm25s

        self.corpus, self.params = corpus, params
        self.latency_s = default_latency() if latency_s is None else latency_s
        self._stemmer = _stemmer(params.stemmer)
        stem_tag = params.stemmer if self._stemmer is not None else None
        key = digest("bm25", corpus.fingerprint, asdict(params), stem_tag, bm25s.__version__)
        self.path = cache_dir("indices") / f"bm25-{key}" if cache else None
        loaded = None if self.path is None else load_entry(
            self.path, corpus.fingerprint, lambda d: _load_checked(d, len(corpus)))
        if loaded is not None:
            self._bm25 = loaded
            self.from_cache = True
        else:
            tokens = self._tokenize([p.text for p in corpus], show_progress)
            self._bm25 = bm25s.BM25(k1=params.k1, b=params.b)
            self._bm25.index(tokens, show_progress=show_progress)
            if self.path is not None:
                save_entry(self.path, lambda d: self._bm25.save(str(d), show_progress=False), corpus.fingerprint)

    def _tokenize(self, texts: list[str], show_progress: bool = False) -> Any:
        import bm25s

        return bm25s.tokenize(
            texts, stopwords=self.params.stopwords, stemmer=self._stemmer,
            show_progress=show_progress, return_ids=True,
        )

    def ranked(self, query: str, k: int) -> list[tuple[int, float]]:
        import bm25s

        words = bm25s.tokenize(
            query, stopwords=self.params.stopwords, stemmer=self._stemmer,
            return_ids=False, show_progress=False,
        )[0]
        words = [w for w in words if w in self._bm25.vocab_dict]
        if not words:
            return []
        k = min(k, len(self.corpus))
        docs, scores = self._bm25.retrieve([words], k=k, show_progress=False)
        return [(int(d), float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]


def _load_checked(path: Path, n_docs: int) -> Any:
    """Load a saved bm25s index and check it covers the corpus (a sanity check beyond checksums)."""
    import bm25s

    index = bm25s.BM25.load(str(path), show_progress=False)
    if index.scores.get("num_docs") != n_docs:
        raise ValueError(f"it indexes {index.scores.get('num_docs')} passages, the corpus has {n_docs}")
    return index


def _stemmer(language: str | None) -> Any:
    if language is None:
        return None
    try:
        import Stemmer
    except ImportError:
        return None
    return Stemmer.Stemmer(language)
