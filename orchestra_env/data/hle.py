"""Humanity's Last Exam (Phan et al. 2025), read from the user's own copy.

HLE is gated on the Hugging Face Hub (``cais/hle``) and its authors ask that it not be
republished, so nothing of it ships here. Save it once as jsonl or parquet and point
``ORCHESTRA_HLE_PATH`` (or ``path=``) at the file, or at a folder of such files::

    from datasets import load_dataset          # after accepting the terms on the Hub
    load_dataset("cais/hle", split="test").to_parquet("hle.parquet")

Fields read: ``id, question, answer, answer_type, category, raw_subject, image, rationale``.
The environments are text-only: questions with an image are skipped and counted, never an error.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from orchestra_env.tasks import Split, Task, select_split

ENV_VAR = "ORCHESTRA_HLE_PATH"
ANSWER_TYPES = ("exactMatch", "multipleChoice")
REQUIRED_FIELDS = ("id", "question", "answer", "answer_type")
_COLUMNS = REQUIRED_FIELDS + ("category", "raw_subject", "image", "rationale")
_SUFFIXES = (".jsonl", ".json", ".parquet")

HOW_TO_GET_HLE = (
    "HLE is not shipped with orchestra-env (it is gated and its authors ask that it not be "
    "republished). To use it: accept the terms of the dataset cais/hle on huggingface.co, then\n"
    "    from datasets import load_dataset\n"
    "    load_dataset('cais/hle', split='test').to_parquet('hle.parquet')   # or .to_json('hle.jsonl')\n"
    f"and pass path='hle.parquet' or set {ENV_VAR}=/abs/path/hle.parquet."
)


@dataclass(frozen=True)
class HLELoad:
    """The loaded tasks and what was left out, so environments can report it in ``info``."""

    tasks: list[Task]
    skipped_images: int  # image questions left out because ``text_only`` was set
    path: Path


def load_hle(path: str | os.PathLike | None = None, split: Split = "all",
             text_only: bool = True, test_fraction: float = 0.2) -> HLELoad:
    """HLE questions from ``path`` (or ``$ORCHESTRA_HLE_PATH``) as tasks ``hle-<id>``.

    ``path`` may be a ``.jsonl``/``.json`` (one object a line) or ``.parquet`` file, or a folder
    holding such files (a Hub snapshot). With ``text_only`` (the default) questions whose
    ``image`` field is non-empty are skipped and counted in ``HLELoad.skipped_images``.
    """
    source = resolve_hle_path(path)
    tasks, skipped = _read(source, _mtime_ns(source), text_only)
    return HLELoad(select_split(tasks, split, test_fraction), skipped, source)


def resolve_hle_path(path: str | os.PathLike | None = None) -> Path:
    """The file or folder to read, or a ``FileNotFoundError`` that says how to get HLE."""
    raw = path if path is not None else os.environ.get(ENV_VAR)
    if not raw:
        raise FileNotFoundError(f"no HLE path given and ${ENV_VAR} is not set.\n{HOW_TO_GET_HLE}")
    source = Path(raw).expanduser().resolve()
    if not source.exists():
        raise FileNotFoundError(f"HLE path {source} does not exist.\n{HOW_TO_GET_HLE}")
    if not _files_in(source):
        raise FileNotFoundError(
            f"HLE path {source} holds no {', '.join(_SUFFIXES)} file.\n{HOW_TO_GET_HLE}"
        )
    return source


def _files_in(source: Path) -> list[Path]:
    if source.is_file():
        return [source] if source.name.endswith(_SUFFIXES) else []
    return sorted(p for p in source.rglob("*") if p.is_file() and p.name.endswith(_SUFFIXES))


def _mtime_ns(source: Path) -> int:
    return max(p.stat().st_mtime_ns for p in _files_in(source))


@lru_cache(maxsize=4)
def _read(source: Path, mtime_ns: int, text_only: bool) -> tuple[tuple[Task, ...], int]:
    """(tasks, skipped image questions); cached per path, modification time and ``text_only``.

    Image rows are dropped while reading so their (large, base64) images are never held.
    """
    tasks, skipped = [], 0
    for file in _files_in(source):
        for n, row in enumerate(_rows(file)):
            if text_only and row.get("image"):
                skipped += 1
                continue
            tasks.append(_task(row, where=f"{file}, row {n}"))
    return tuple(tasks), skipped


def _rows(file: Path) -> Iterator[dict[str, Any]]:
    if file.name.endswith(".parquet"):
        yield from _parquet_rows(file)
        return
    with file.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def _parquet_rows(file: Path) -> Iterator[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError(
            f"reading {file} needs pyarrow: pip install 'orchestra-env[hle]' "
            "(or save HLE as .jsonl instead)"
        ) from e
    pf = pq.ParquetFile(file)
    columns = [c for c in _COLUMNS if c in pf.schema_arrow.names]  # skip heavy unused columns
    yield from pf.read(columns=columns).to_pylist()


def _task(row: dict[str, Any], where: str) -> Task:
    missing = [k for k in REQUIRED_FIELDS if row.get(k) is None]
    if missing:
        raise ValueError(f"{where}: HLE row lacks field(s) {missing}; is this HLE's format?")
    answer_type = row["answer_type"]
    if answer_type not in ANSWER_TYPES:
        raise ValueError(f"{where}: answer_type {answer_type!r} is not one of {ANSWER_TYPES}")
    category = row.get("category") or ""
    return Task(
        task_id=f"hle-{row['id']}",
        benchmark="hle",
        question=str(row["question"]),
        answer=str(row["answer"]).strip(),
        categories=(category,) if category else (),
        answer_type=answer_type,
        metadata={
            "raw_subject": row.get("raw_subject") or "",
            "image": row.get("image") or "",
            "rationale": row.get("rationale") or "",
        },
    )


# ---------------------------------------------------------------------------- simulator fixture
#: HLE's subject shares (Phan et al. 2025, arXiv:2501.14249: Math 41%, the rest approximate
#: readings of its subject chart) and its share of multiple-choice questions (about 24%).
SYNTHETIC_SUBJECTS = {"Math": 41, "Biology/Medicine": 11, "Computer Science/AI": 10, "Physics": 9,
                      "Humanities/Social Science": 9, "Chemistry": 7, "Engineering": 4, "Other": 9}
SYNTHETIC_MC_SHARE = 0.24


def write_synthetic_hle(path: str | os.PathLike, n: int = 500, seed: int = 0) -> Path:
    """Write an HLE-*shaped* jsonl: a SIMULATOR FIXTURE for calibration and tests, never a benchmark.

    Subjects and answer types follow HLE's published shares; the questions are placeholders
    ("[synthetic HLE-shaped placeholder ...]") with random answers, so nothing here measures a
    real model. It exists because HLE cannot be shipped: with it the simulated pool's HLE
    figures can be checked offline; with your copy (``ORCHESTRA_HLE_PATH``) the same
    benchmark runs on the real questions.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    subjects = list(SYNTHETIC_SUBJECTS)
    weights = np.array([SYNTHETIC_SUBJECTS[s] for s in subjects], dtype=float)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for i in range(n):
            subject = subjects[int(rng.choice(len(subjects), p=weights / weights.sum()))]
            mc = bool(rng.random() < SYNTHETIC_MC_SHARE)
            answer = "ABCDE"[int(rng.integers(5))] if mc else f"{int(rng.integers(2, 99_999))}"
            question = (f"[synthetic HLE-shaped placeholder {i}, subject {subject}; not an HLE question]"
                        + (" Choose one of A, B, C, D, E." if mc else " Give the number."))
            row = {"id": f"synthetic-{seed}-{i}", "question": question, "answer": answer,
                   "answer_type": "multipleChoice" if mc else "exactMatch", "category": subject,
                   "raw_subject": subject, "image": "", "rationale": ""}
            f.write(json.dumps(row) + "\n")
    return out
