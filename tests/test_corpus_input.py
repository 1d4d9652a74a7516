"""`orchestra index` input: linear-time chunking, and one clear error for every malformed file."""
from __future__ import annotations

import gzip
import json
import lzma
import time
from pathlib import Path

import pytest

from orchestra_env.data.corpus import CorpusFormatError, chunk_text, load_corpus
from orchestra_env.tools.search.cli import build_index_cli


def test_chunking_a_long_document_is_linear():
    text = "word " * 1_600_000  # one paragraph: the old slicing loop was quadratic here
    start = time.perf_counter()
    chunks = list(chunk_text(text, 200))
    elapsed = time.perf_counter() - start
    assert len(chunks) == 8000 and all(len(c.split()) == 200 for c in chunks)
    assert elapsed < 2.0, f"{elapsed:.2f}s for 1.6M words"


def test_chunks_are_the_same_windows_as_before():
    text = "a b c d e f g\nh\n\ni j k l m n o p q r s"
    assert list(chunk_text(text, 3)) == ["a b c", "d e f", "g\nh", "i j k", "l m n", "o p q", "r s"]


def test_a_20_mb_single_line_document_indexes(tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_text(json.dumps({"id": "big", "text": "lorem ipsum " * 1_750_000}))  # ~21 MB, no newline
    start = time.perf_counter()
    corpus = load_corpus(path)
    assert len(corpus) == 3_500_000 // 200 and time.perf_counter() - start < 20


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


MALFORMED = {
    "invalid utf-8": ("c.jsonl", b'{"text": "ok"}\n{"text": "\xff\xfe"}\n', 2, None, "invalid UTF-8"),
    "not an object": ("c.jsonl", b'{"text": "ok"}\n[1, 2]\n', 2, None, "must be a JSON object, got list"),
    "a string line": ("c.jsonl", b'"just text"\n', 1, None, "got str"),
    "text null": ("c.jsonl", b'{"text": "ok"}\n\n{"text": null}\n', 3, "text", "must be a string, got NoneType"),
    "text a dict": ("c.jsonl", b'{"text": {"a": 1}}\n', 1, "text", "got dict"),
    "text missing": ("c.jsonl", b'{"body": "x"}\n', 1, "text", "missing"),
    "title a list": ("c.jsonl", b'{"text": "x", "title": [1]}\n', 1, "title", "must be a string"),
    "bad json": ("c.jsonl", b'{"text": "x"\n', 1, None, "not valid JSON"),
    "huge nesting": ("c.jsonl", b'{"text": ' + b"[" * 200_000 + b"]" * 200_000 + b"}\n", 1, None, "nested too deeply"),
    "empty file": ("c.jsonl", b"", None, None, "no passages"),
    "blank texts": ("c.jsonl", b'{"text": "   "}\n', None, None, "no passages"),
    "corrupt xz": ("c.jsonl.xz", lzma.compress(b'{"text": "x"}\n' * 1000)[:40] + b"\x00junk" * 20, 1, None, "cannot decompress"),
    "truncated gz": ("c.jsonl.gz", gzip.compress(b'{"text": "x"}\n' * 5000)[:-30], None, None, "cannot decompress"),
    "not gzip": ("c.jsonl.gz", b"plain text, not gzip", 1, None, "cannot decompress"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_input_gives_one_error_with_file_line_and_field(tmp_path, case):
    name, data, line, field, words = MALFORMED[case]
    path = _write(tmp_path / name, data)
    with pytest.raises(CorpusFormatError) as info:
        load_corpus(path)
    message = str(info.value)
    assert message.startswith(str(path)) and words in message, message
    if line is not None:
        assert info.value.line == line and f"{path}:{line}:" in message
    if field is not None:
        assert info.value.field == field and repr(field) in message


@pytest.mark.parametrize("case", ["text null", "corrupt xz", "huge nesting"])
def test_the_index_command_prints_the_error_without_a_traceback(tmp_path, capsys, monkeypatch, case):
    monkeypatch.setenv("ORCHESTRA_CACHE", str(tmp_path / "cache"))
    name, data, *_ = MALFORMED[case]
    path = _write(tmp_path / name, data)
    assert build_index_cli([str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("orchestra index: error: ") and str(path) in err
    assert "Traceback" not in err and err.count("\n") == 1
