"""``orchestra index`` (also ``python -m orchestra_env.tools.search``): build and try an index."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from orchestra_env.cache import cache_dir
from orchestra_env.data.corpus import CorpusFormatError
from orchestra_env.tools.search.base import format_passages
from orchestra_env.tools.search.local import LocalIndex
from orchestra_env.tools.search.registry import KINDS, get_index


def build_index_cli(argv: Sequence[str] | None = None) -> int:
    """``orchestra index CORPUS``: build and cache an index over a named corpus or a jsonl file."""
    parser = argparse.ArgumentParser(
        prog="orchestra index",
        description="Build (or load) and cache a search index; try it with --query.",
    )
    parser.add_argument("corpus", help="frames-wiki | wiki-offline | path/to/articles.jsonl[.gz|.xz]")
    parser.add_argument("--kind", choices=KINDS[:3], default="bm25")
    parser.add_argument("--text-field", default="text")
    parser.add_argument("--title-field", default="title")
    parser.add_argument("--url-field", default="url")
    parser.add_argument("--max-words", type=int, default=None, help="passage length in words (200)")
    parser.add_argument("--max-passages", type=int, default=None, help="index only the first N passages")
    parser.add_argument("--per-page", type=int, default=None, help="index only each page's first N passages")
    parser.add_argument("--quantize", action="store_true", help="dense: 8-bit scalar quantisation")
    parser.add_argument("--batch-size", type=int, default=64, help="dense: embedding batch size")
    parser.add_argument("--query", action="append", default=[], help="search this after building")
    parser.add_argument("-k", type=int, default=3)
    args = parser.parse_args(argv)

    options: dict[str, Any] = {}
    if args.kind != "bm25":
        options.update(quantize=args.quantize, batch_size=args.batch_size)
    fields = {"text_field": args.text_field, "title_field": args.title_field, "url_field": args.url_field}
    is_file = Path(args.corpus).expanduser().is_file()
    start = time.perf_counter()
    try:
        index = get_index(
            args.kind, args.corpus, max_passages=args.max_passages, per_page=args.per_page,
            show_progress=True, **(fields if is_file else {}),
            **({"max_words": args.max_words} if args.max_words else {}), **options,
        )
    except (CorpusFormatError, FileNotFoundError, ModuleNotFoundError) as exc:
        print(f"orchestra index: error: {exc}", file=sys.stderr)  # one line, no traceback
        return 2
    except ValueError as exc:  # an unknown corpus name, a bad option
        print(f"orchestra index: error: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    assert isinstance(index, LocalIndex)
    how = "loaded from cache" if index.from_cache else "built"
    print(f"{args.kind} index over {index.corpus!r}: {how} in {elapsed:.1f}s")
    print(f"cache: {cache_dir()}")
    for query in args.query:
        print(f"\n>>> {query}\n{format_passages(index.search(query, args.k).passages)}")
    return 0
