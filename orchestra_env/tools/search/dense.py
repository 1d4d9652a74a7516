"""Dense search: faiss inner product over unit embeddings (= cosine), cached on disk."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestra_env.cache import cache_dir
from orchestra_env.data.corpus import Corpus
from orchestra_env.tools.search.encoder import Encoder, MiniLMEncoder, passive_openmp
from orchestra_env.tools.search.local import LocalIndex, default_latency, digest, load_entry, save_entry

if TYPE_CHECKING:
    import numpy as np


class DenseIndex(LocalIndex):
    """Exact (or 8-bit scalar-quantised) inner-product search over unit embeddings.

    Embeddings (.npy) and the faiss index are cached separately, so switching ``quantize``
    reuses the expensive part.
    """

    def __init__(
        self,
        corpus: Corpus,
        encoder: Encoder | None = None,
        *,
        quantize: bool = False,
        latency_s: float | None = None,
        cache: bool = True,
        show_progress: bool = False,
    ):
        passive_openmp()  # before faiss (and torch, via the encoder) load their OpenMP runtimes
        import faiss
        import numpy as np

        self.corpus = corpus
        self.encoder = encoder or MiniLMEncoder()
        self.quantize = quantize
        self.latency_s = default_latency() if latency_s is None else latency_s
        emb_path = cache_dir("embeddings") / f"{digest(self.encoder.name, corpus.fingerprint)}.npy"
        self.path = cache_dir("indices") / (
            f"dense-{digest(self.encoder.name, corpus.fingerprint, quantize)}.faiss"
        )
        fp, n = corpus.fingerprint, len(corpus)
        index = load_entry(self.path, fp, lambda f: _rows(faiss.read_index(str(f)), n)) if cache else None
        if index is not None:
            self._faiss = index
            self.from_cache = True
            return
        vectors = load_entry(emb_path, fp, lambda f: _rows(np.load(f, allow_pickle=False), n)) if cache else None
        if vectors is not None:
            self.from_cache = True
        else:
            vectors = self.encoder.encode([p.text for p in corpus], show_progress=show_progress)
            if cache:
                save_entry(emb_path, lambda f: np.save(f, vectors), fp)
        self._faiss = _faiss_index(vectors, quantize)
        if cache:
            save_entry(self.path, lambda f: faiss.write_index(self._faiss, str(f)), fp)

    def ranked(self, query: str, k: int) -> list[tuple[int, float]]:
        vector = self.encoder.encode([query])
        scores, ids = self._faiss.search(vector, min(k, len(self.corpus)))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


def _rows(value: Any, expected: int) -> Any:
    """``value`` (a faiss index or an array) if it holds one vector per passage: the
    checksums prove the bytes are the ones written, this that they fit this corpus."""
    count = value.ntotal if hasattr(value, "ntotal") else len(value)
    if count != expected:
        raise ValueError(f"it holds {count} vectors, the corpus has {expected} passages")
    return value


def _faiss_index(vectors: "np.ndarray", quantize: bool) -> Any:
    import faiss

    dim = vectors.shape[1]
    if quantize:  # one byte per dimension instead of four
        index = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
    else:
        index = faiss.IndexFlatIP(dim)
    index.add(vectors)
    return index
