"""Retrieval quality and speed of the local search backends on FRAMES.

For every FRAMES question, the query is the question text; a hit is a passage from one of the
question's evidence pages (``wiki_pages_per_question.jsonl``). Recall@k is the fraction of a
question's evidence pages among the pages of its top-k passages, averaged over questions.

BM25 runs on the full corpus (59,832 passages). MiniLM embeds ~20 passages/s on 2 CPU cores, so
by default the dense comparison runs on the lead section of every page (its first 2 passages,
4,715 passages; all three backends on the same subset); ``--full`` embeds everything (~50 min
on 2 cores, a couple of minutes on a GPU).

    orchestra bench retrieval                      # fresh builds in a temporary cache
    orchestra bench retrieval --full --cache       # full dense index, kept in the user's cache
    orchestra bench retrieval --no-dense           # BM25 only (seconds)

Writes ``results/retrieval.{csv,json,md}`` (``--out``).
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any, Sequence

from orchestra_env.data.corpus import Corpus, frames_evidence_pages, read_jsonl

from benchmarks.common import RunConfig, parse_run_config, run_recorded


@dataclass
class Row:
    corpus: str
    passages: int
    index: str
    build_s: float
    recall: dict[int, float]
    ms_per_query: float


def frames_questions() -> list[str]:
    path = resources.files("orchestra_env").joinpath("data/frames/frames.jsonl")
    with resources.as_file(path) as p:
        return [r["question"] for r in read_jsonl(p)]


def evaluate(name: str, index, build_s: float, questions, gold, ks=(1, 5, 10)) -> Row:
    hits = {k: 0.0 for k in ks}
    start = time.perf_counter()
    for question, pages in zip(questions, gold):
        ranked = [p.page_id for p in index.search(question, max(ks)).passages]
        for k in ks:
            hits[k] += len(set(ranked[:k]) & set(pages)) / len(pages)
    ms = (time.perf_counter() - start) / len(questions) * 1000
    return Row(index.corpus.name, len(index.corpus), name, build_s, {k: h / len(questions) for k, h in hits.items()}, ms)


def timed(build):
    start = time.perf_counter()
    index = build()
    return index, time.perf_counter() - start


@dataclass
class RetrievalConfig(RunConfig):
    full: bool = field(default=False, metadata={"help": "dense/hybrid on the full corpus"})
    dense: bool = field(default=True, metadata={"help": "also the dense, dense-sq8 and hybrid rows (MiniLM)"})
    per_page: int = field(default=2, metadata={"help": "lead passages a page in the dense subset"})
    max_seq_length: int = field(default=256, metadata={"help": "MiniLM truncation (tokens)"})
    questions: int = field(default=0, metadata={"help": "evaluate on the first N questions (0: all)"})
    cache: bool = field(default=False, metadata={"help": "use (and fill) the user's cache instead of a temp one"})
    out: str = field(default="results/retrieval", metadata={"help": "output stem"})


def measure(config: RetrievalConfig) -> list[dict[str, Any]]:
    """One row per (corpus, index): passages, build (or cache-load) seconds, R@1/5/10, ms/query."""
    if not config.cache:
        os.environ["ORCHESTRA_CACHE"] = tempfile.mkdtemp(prefix="orchestra-bench-")
    from orchestra_env.tools.search import BM25Index, DenseIndex, HybridIndex, MiniLMEncoder, resolve_corpus

    questions, gold = frames_questions(), frames_evidence_pages()
    if config.questions:
        questions, gold = questions[: config.questions], gold[: config.questions]
    full = resolve_corpus("frames-wiki")
    rows = []
    bm25, t_bm25 = timed(lambda: BM25Index(full))
    rows.append(evaluate("bm25", bm25, t_bm25, questions, gold))

    subset: Corpus = full if config.full else full.subset(per_page=config.per_page)
    if not config.full:
        bm25, t_bm25 = timed(lambda: BM25Index(subset))
        rows.append(evaluate("bm25", bm25, t_bm25, questions, gold))
    if config.dense:
        encoder = MiniLMEncoder(max_seq_length=config.max_seq_length)
        dense, t_dense = timed(lambda: DenseIndex(subset, encoder, show_progress=config.progress))
        rows.append(evaluate("dense", dense, t_dense, questions, gold))
        sq8, t = timed(lambda: DenseIndex(subset, encoder, quantize=True))  # reuses the embeddings
        rows.append(evaluate("dense-sq8", sq8, t, questions, gold))
        hybrid = HybridIndex([bm25, dense])
        rows.append(evaluate("hybrid", hybrid, t_bm25 + t_dense, questions, gold))
    out = []
    for r in rows:
        row = {k: v for k, v in asdict(r).items() if k != "recall"}
        row.update({f"recall_at_{k}": v for k, v in r.recall.items()}, questions=len(questions))
        out.append(row)
    return out


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| corpus | passages | index | build s | R@1 | R@5 | R@10 | ms/query |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['corpus']} | {r['passages']:,} | {r['index']} | {r['build_s']:.1f} | {r['recall_at_1']:.3f} | "
              f"{r['recall_at_5']:.3f} | {r['recall_at_10']:.3f} | {r['ms_per_query']:.1f} |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None, config: RetrievalConfig | None = None) -> list[dict[str, Any]]:
    config = config or parse_run_config(argv, RetrievalConfig(), __doc__)
    rows, record, paths = run_recorded("retrieval", config, measure, markdown=markdown)
    print(f"\nFRAMES: {rows[0]['questions']} questions, page-level recall; "
          f"cache: {'existing' if config.cache else 'fresh temp'} (build_s of a cached index is its load time)")
    print(markdown(rows))
    print(f"wrote {', '.join(map(str, paths))} ({record.duration_s:.0f} s)")
    return rows


if __name__ == "__main__":
    main()
