"""Judges decide whether a final answer is right, once, at the end of an episode.

A :class:`Judge` is a chain of rules, tried in order; the first that decides gives the
:class:`Verdict`. The chain follows ToolOrchestra's evaluation and the benchmarks' own graders::

    LengthRule      empty, or longer than 500 words            -> wrong    ("rule:length")
    ExactMatch      SQuAD-style normalised equality            -> right    ("exact")
    LLMJudge        an Expert grades it, when one is configured          ("llm:frames" / "llm:hle")
      or offline:   TokenF1 >= 0.6 (FRAMES)                              ("f1")
                    HLERule: exact answer / choice letter (HLE)          ("hle:exact" / "hle:choice")

An LLM judge whose call fails or whose reply cannot be parsed falls back to the offline rule
(``judge="fallback:<rule>"``). Its tokens are reported in ``Verdict.usage`` and are never
charged to the policy. Prompts and thresholds are explained in ``docs/judges.md``.
"""
from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Protocol

from orchestra_env.experts.base import Expert, ExpertRequest
from orchestra_env.model_json import first_json
from orchestra_env.tasks import Task, derive_seed
from orchestra_env.usage import Catalogue, Usage

DEFAULT_MAX_WORDS = 500  # ToolOrchestra: an answer over 500 words is wrong, unread
DEFAULT_F1_THRESHOLD = 0.6  # why 0.6: docs/judges.md, "Offline fallback"
DEFAULT_JUDGE_MODEL = "gpt-5"  # ToolOrchestra's judge; HLE's official evaluation uses o3-mini


@dataclass(frozen=True)
class Verdict:
    """A judgement: right or wrong, a score in [0, 1], and which rule decided it."""

    correct: bool
    score: float
    judge: str
    extracted_answer: str | None
    details: str = ""
    usage: Usage = field(default_factory=Usage)  # the judge's own LLM spend, not the policy's


class Rule(Protocol):
    """One link of the chain: a verdict, or ``None`` to pass the question on."""

    def __call__(self, task: Task, prediction: str) -> Verdict | None: ...


class Grader(Protocol):
    """A rule that always decides: the end of a chain."""

    def __call__(self, task: Task, prediction: str) -> Verdict: ...


# ----------------------------------------------------------------------------- answer text


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_SEPARATORS = re.compile(r"[-\u2010-\u2015/]")  # hyphens, dashes, slashes split words
_PUNCT = re.compile(r"(?!(?<=\d)\.(?=\d))[^\w\s]|_")  # keeps decimal points: 3.5 != 35


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation (lowercase, drop punctuation and articles, squeeze spaces),
    plus accents folded (Brontë = Bronte), thousands separators dropped (506,000 = 506000)
    and decimal points kept."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = _SEPARATORS.sub(" ", _THOUSANDS.sub("", text))
    text = _ARTICLES.sub(" ", _PUNCT.sub("", text))
    return " ".join(text.split())


def _canonical(text: str) -> str:
    """The normalised text, or the lowercased text when normalising leaves nothing: a Morse
    answer such as ``....-`` (frames-524) must not equal every punctuation-only reply."""
    return normalize_answer(text) or " ".join(text.lower().split())


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token F1 between the normalised strings."""
    pred, ref = _canonical(prediction).split(), _canonical(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def same_answer(prediction: str, reference: str) -> bool:
    """Normalised equality; numbers compare by value (``8.0`` = ``8``)."""
    a, b = _canonical(prediction), _canonical(reference)
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return abs(x - y) <= 1e-9 * max(1.0, abs(x), abs(y))


_TAGGED = re.compile(r"<answer>(.*?)</answer>", re.S | re.I)
_BOXED = re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")
_ANSWER_LINE = re.compile(r"(?im)^[\s*#>_]*(?:final\s+)?answer[\s*_]*:[\s*_]*(.+?)\s*$")


def extract_final_answer(prediction: str) -> str:
    """The answer part of a reply: ``<answer>..</answer>``, the last ``Answer: ..`` line (HLE's
    format) or ``\\boxed{..}``; the whole reply, stripped, when it has none of these."""
    for pattern in (_TAGGED, _ANSWER_LINE, _BOXED):
        found = pattern.findall(prediction)
        if found and found[-1].strip():
            return found[-1].strip().strip("*").strip()
    return prediction.strip()


_CHOICE_LINE = re.compile(r"(?m)^\s*([A-Z])[.)]\s")
_CHOICE_PATTERNS = (
    # "Answer: B", "answer is (B)", "Final answer: **B**", "answer: option B"
    re.compile(r"(?i:answer)\s*(?:(?i:is)|[:=])?\s*(?:(?i:option|choice)\s*)?"
               r"[(\[*\s]*([A-Z])(?![A-Za-z])"),
    re.compile(r"(?i)answer\s*(?:is|[:=])\s*[(\[*]*([a-z])[)\]*.]*\s*$"),  # "answer: b"
    re.compile(r"^\W*([A-Za-z])\W*$"),  # the whole reply is one letter: "B", "(b)", "**B.**"
    re.compile(r"^\s*[(\[]?([A-Z])[)\].:](?:\s|$)"),  # starts with "B." / "B)" / "(B)"
    re.compile(r"\(([A-Z])\)|\*\*([A-Z])\*\*|(?i:option|choice)\s+([A-Z])(?![A-Za-z])"),
)


def choice_letters(question: str) -> str:
    """The option letters of a multiple-choice question ("Answer Choices:\\nA. ..\\nB. ..")."""
    tail = question.rsplit("Answer Choices:", 1)[-1]
    letters = "".join(dict.fromkeys(_CHOICE_LINE.findall(tail)))
    return letters or string.ascii_uppercase


def extract_choice(prediction: str, valid: str = string.ascii_uppercase) -> str | None:
    """The chosen letter in a multiple-choice reply, or ``None``.

    Tries, in order: an explicit "Answer: B" / "answer is (B)", a reply that is just a letter,
    a reply that starts with "B." or "(B)", then "(B)", "**B**" or "option B" anywhere; the last
    match of the first pattern that finds a letter in ``valid`` wins.
    """
    text = prediction.strip()
    for pattern in _CHOICE_PATTERNS:
        letters = [next(g for g in m.groups() if g) for m in pattern.finditer(text)]
        letters = [x.upper() for x in letters if x.upper() in valid]
        if letters:
            return letters[-1]
    return None


# ----------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class LengthRule:
    """Empty answers and answers over ``max_words`` words are wrong, as in ToolOrchestra:
    a policy must not win by listing every candidate."""

    max_words: int = DEFAULT_MAX_WORDS

    def __call__(self, task: Task, prediction: str) -> Verdict | None:
        words = len(prediction.split())
        if words == 0:
            return Verdict(False, 0.0, "rule:length", None, "empty answer")
        if words > self.max_words:
            return Verdict(False, 0.0, "rule:length", None, f"{words} words > {self.max_words}")
        return None


@dataclass(frozen=True)
class ExactMatch:
    """Right when the extracted answer equals the reference after normalisation."""

    def __call__(self, task: Task, prediction: str) -> Verdict | None:
        answer = extract_final_answer(prediction)
        if same_answer(answer, task.answer):
            return Verdict(True, 1.0, "exact", answer, "normalised exact match")
        return None


@dataclass(frozen=True)
class TokenF1:
    """Offline FRAMES grader: right when token F1 with the reference reaches ``threshold``."""

    threshold: float = DEFAULT_F1_THRESHOLD

    def __call__(self, task: Task, prediction: str) -> Verdict:
        answer = extract_final_answer(prediction)
        f1 = token_f1(answer, task.answer)
        ok = f1 >= self.threshold
        relation = ">=" if ok else "<"
        return Verdict(ok, f1, "f1", answer, f"token F1 {f1:.3f} {relation} {self.threshold}")


@dataclass(frozen=True)
class HLERule:
    """Offline HLE grader: the chosen letter for multiple choice, exact match otherwise."""

    def __call__(self, task: Task, prediction: str) -> Verdict:
        if task.answer_type == "multipleChoice":
            valid = choice_letters(task.question)
            chosen = extract_choice(prediction, valid)
            gold = extract_choice(task.answer, valid) or task.answer.strip().upper()
            ok = chosen == gold
            return Verdict(ok, float(ok), "hle:choice", chosen, f"chose {chosen}, reference {gold}")
        answer = extract_final_answer(prediction)
        ok = same_answer(answer, task.answer)
        details = "normalised exact match" if ok else "differs from the reference"
        return Verdict(ok, float(ok), "hle:exact", answer, details)


# ----------------------------------------------------------------------------- LLM judge


@dataclass(frozen=True)
class Judgement:
    """What a judge model's reply says, once parsed."""

    correct: bool
    extracted_answer: str | None
    details: str


class JudgePrompt(Protocol):
    name: str

    def render(self, task: Task, prediction: str) -> str: ...

    def parse(self, reply: str) -> Judgement | None: ...


_CORRECT_TAG = re.compile(r"<correct>\s*\**\s*(true|false|yes|no)\s*\**\s*</correct>", re.I)
_BARE_VERDICT = {"true": True, "yes": True, "correct": True,
                 "false": False, "no": False, "incorrect": False}


@dataclass(frozen=True)
class ReferencePrompt:
    """ToolOrchestra's FRAMES judge: compare a student answer with a reference, reply in a tag."""

    name: str = "frames"

    def render(self, task: Task, prediction: str) -> str:
        return (
            f"Question: {task.question}\n\n"
            f"Student answer: {extract_final_answer(prediction)}\n\n"
            f"Reference answer: {task.answer}\n\n"
            "Take the reference answer as correct. Decide whether the student answer states the "
            "same thing (wording, formatting and units may differ; the substance may not). Reply "
            "with <correct>True</correct> if it does and <correct>False</correct> if it does not."
        )

    def parse(self, reply: str) -> Judgement | None:
        tags = _CORRECT_TAG.findall(reply)
        if tags:
            verdict = _BARE_VERDICT[tags[-1].lower()]
        else:
            verdict = _BARE_VERDICT.get(reply.strip().strip("*.`'\" ").lower())
            if verdict is None:
                return None
        return Judgement(verdict, None, reply.strip()[-300:])


def _field(name: str) -> re.Pattern[str]:
    """``name: value`` at a line start, tolerating markdown (``**correct:** yes``)."""
    return re.compile(rf"(?im)^[\s*#>_-]*{name}[\s*_]*:[\s*_]*(.*?)\s*$")


_HLE_EXTRACTED, _HLE_REASONING = _field("extracted_final_answer"), _field("reasoning")
_HLE_CORRECT, _HLE_CONFIDENCE = _field("correct"), _field("confidence")
_JSON_OBJECT = re.compile(r"\{.*\}", re.S)


@dataclass(frozen=True)
class HLEPrompt:
    """HLE's judge format: extracted_final_answer / reasoning / correct (yes|no) / confidence."""

    name: str = "hle"

    def render(self, task: Task, prediction: str) -> str:
        return (
            "Grade the [response] to the [question] against the [correct_answer], which is "
            "precise and unambiguous.\n\n"
            f"[question]: {task.question}\n\n"
            f"[response]: {prediction}\n\n"
            f"[correct_answer]: {task.answer}\n\n"
            "Reply with exactly these four lines:\n"
            "extracted_final_answer: the final answer stated in the [response], copied exactly; "
            "None if it states no final answer.\n"
            "reasoning: why the extracted answer does or does not match [correct_answer]. Only "
            "compare the two; do not solve the problem or argue for another answer.\n"
            "correct: yes if the extracted answer matches [correct_answer] (for numbers, within a "
            "small margin of error); no if it differs, is ambiguous, or is missing.\n"
            "confidence: the confidence (0-100%) the [response] states; 100 if it states none.\n"
        )

    def parse(self, reply: str) -> Judgement | None:
        fields = _json_fields(reply) or {
            key: (found[-1] if (found := pattern.findall(reply)) else None)
            for key, pattern in (("extracted_final_answer", _HLE_EXTRACTED),
                                 ("reasoning", _HLE_REASONING), ("correct", _HLE_CORRECT),
                                 ("confidence", _HLE_CONFIDENCE))
        }
        verdict = fields.get("correct")
        if verdict is None and reply.strip().strip("*.`'\" ").lower() in ("yes", "no"):
            verdict = reply.strip().strip("*.`'\" ")  # a bare verdict, as terse judges give
        if isinstance(verdict, bool):  # JSON true/false
            verdict = "yes" if verdict else "no"
        word = re.match(r"\W*(yes|no)\b", str(verdict or ""), re.I)
        if word is None:
            return None
        extracted = str(fields.get("extracted_final_answer") or "").strip().strip("*`").strip()
        details = f"reasoning: {fields.get('reasoning') or ''}; confidence: {fields.get('confidence')}"
        return Judgement(word.group(1).lower() == "yes",
                         None if extracted.lower() in ("", "none") else extracted, details)


def _json_fields(reply: str) -> dict | None:
    """A judge asked for structured output may answer in JSON instead of lines."""
    data = first_json(reply, _JSON_OBJECT)
    return data if isinstance(data, dict) and "correct" in data else None


@dataclass(frozen=True)
class LLMJudge:
    """Ask an Expert to grade; fall back to ``fallback`` when the call fails or the reply
    cannot be parsed, so an episode always gets a verdict."""

    llm: Expert
    model: str
    prompt: JudgePrompt
    fallback: Grader
    max_tokens: int = 1024
    catalogue: Catalogue | None = None  # prices the judge's tokens in Verdict.usage when given

    def __call__(self, task: Task, prediction: str) -> Verdict:
        request = ExpertRequest(
            model=self.model,
            messages=({"role": "user", "content": self.prompt.render(task, prediction)},),
            role="judge",
            max_tokens=self.max_tokens,
            temperature=0.0,
            seed=derive_seed("judge", task.task_id),
        )
        response = self.llm.complete(request)
        usage = self._usage(response.tokens_in, response.tokens_out, response.latency_s)
        judgement = None if response.error else self.prompt.parse(response.text)
        if judgement is None:
            problem = (f"error {response.error}" if response.error
                       else f"unparseable reply {response.text[:200]!r}")
            v = self.fallback(task, prediction)
            return replace(v, judge=f"fallback:{v.judge}", usage=usage,
                           details=f"LLM judge {self.model}: {problem}; {v.details}")
        extracted = judgement.extracted_answer or extract_final_answer(prediction)
        return Verdict(judgement.correct, float(judgement.correct), f"llm:{self.prompt.name}",
                       extracted, judgement.details, usage)

    def _usage(self, tokens_in: int, tokens_out: int, latency_s: float) -> Usage:
        if self.catalogue is not None and self.model in self.catalogue.models:
            return self.catalogue.model_usage(self.model, tokens_in, tokens_out, latency_s)
        return Usage(0.0, latency_s, tokens_in, tokens_out)


# ----------------------------------------------------------------------------- the chain


@dataclass(frozen=True)
class Judge:
    """Rules tried in order; the last one always decides."""

    benchmark: str
    rules: tuple[Rule, ...]

    def __call__(self, task: Task, prediction: str | None) -> Verdict:
        prediction = prediction or ""
        for rule in self.rules:
            verdict = rule(task, prediction)
            if verdict is not None:
                return verdict
        raise RuntimeError(f"judge for {self.benchmark!r}: no rule decided; the last must always")


_PROMPTS: dict[str, type] = {"frames": ReferencePrompt, "hle": HLEPrompt}


def make_judge(benchmark: str, llm: Expert | None = None, llm_model: str | None = None, *,
               f1_threshold: float = DEFAULT_F1_THRESHOLD, max_words: int = DEFAULT_MAX_WORDS,
               max_tokens: int = 1024, catalogue: Catalogue | None = None) -> Judge:
    """The judge chain for ``benchmark`` ("frames" or "hle").

    With ``llm`` the undecided cases go to an LLM judge (model ``llm_model``, default gpt-5);
    without, to the offline rule (token F1 >= ``f1_threshold`` for FRAMES, HLE's exact/choice
    rule for HLE).
    """
    key = benchmark.lower()
    if key not in _PROMPTS:
        raise ValueError(
            f"no QA judge for benchmark {benchmark!r}; known: {sorted(_PROMPTS)} "
            "(agentic domains such as tau2 are graded by their own database check)"
        )
    offline: Grader = TokenF1(f1_threshold) if key == "frames" else HLERule()
    last: Grader = offline
    if llm is not None:
        last = LLMJudge(llm, llm_model or DEFAULT_JUDGE_MODEL, _PROMPTS[key](), offline,
                        max_tokens=max_tokens, catalogue=catalogue)
    return Judge(key, (LengthRule(max_words), ExactMatch(), last))
