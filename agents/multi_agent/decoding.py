"""Greedy decoding in which a call's two open slots may only hold what the agent can see.

A caller writes ``Action: <tool>`` / ``Action Input: {"key": "value", ...}``. Two parts of that
text are not free language: the tool must be one the env offers, and (in our ToolScale and tau2
tasks) a string argument is an id, an email or a word that the history already shows. A small
model that has learned the format still garbles the 8 random characters of an id where a large
one copies them. :func:`constrained_generate` is greedy decoding with a prefix constraint on
those two slots (the trie-constrained decoding of slot filling and grammar-constrained
generation):

* after ``Action:`` the next tokens must spell one of the env's tool names, then a newline;
* after a key of the Action Input, when the model opens a string, the value is, among the
  spans of the prompt (runs of id/email characters holding a digit or an ``@``, and quoted
  JSON values), the one with the highest mean token log-likelihood (closing quote included).

Inside the tool slot each token is still the model's own greedy choice among the tokens that
keep the text a prefix of some tool name; a value is the model's likeliest span. The model
decides *which* tool and *which* span, the decoder only removes text that could not be
right. The candidates come from the prompt and the env's tool list alone (never from the
task's gold), and every system, trained or not, decodes the same way. Its price: a value the history does not contain cannot be written, and a
hallucinated tool name cannot occur, so the hallucination rate of a constrained run is 0 by
construction (report the free-decoding rate for that metric).
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Sequence

_ACTION = re.compile(r"Action:[ \t]?$")
_KEY_DONE = re.compile(r'Action Input:[ \t]*\{(?:[^\n]*?,)?[ \t]*"[^"\n]*"[ \t]*:[ \t]?$')
_SPAN = re.compile(r"[A-Za-z0-9][A-Za-z0-9@._+\-]*[A-Za-z0-9]")
_QUOTED_VALUE = re.compile(r':[ \t]*"([^"\n]{1,80})"')  # a JSON string value (after a key)
MAX_CANDIDATES = 256


def value_candidates(prompt: str) -> list[str]:
    """Spans of ``prompt`` a string argument may copy, in order of first appearance, without
    duplicates: entity-like runs (ids, emails: a run with a digit or an ``@``; plain words are
    left out, or a weak model's favourite word, "my", wins the slot) and quoted JSON values."""
    runs = [m.group(0) for m in _SPAN.finditer(prompt) if any(c.isdigit() or c == "@" for c in m.group(0))]
    found = runs + [m.group(1) for m in _QUOTED_VALUE.finditer(prompt)]
    return list(dict.fromkeys(s for s in found if s.strip()))[:MAX_CANDIDATES]


def slot_options(text: str, next_piece: str, tools: Sequence[str], values: Sequence[str]) -> list[str] | None:
    """The texts a slot opened at the end of ``text`` may take (``next_piece``: the model's
    greedy next token, which says whether it opens a string), or None where no slot opens."""
    space = "" if text.endswith(" ") else " "
    if _ACTION.search(text):
        return [f"{space}{t}\n" for t in tools]
    at = text.rfind("Action Input:")
    line = text[at:] if at >= 0 else ""
    if line and "\n" not in line and _KEY_DONE.search(line) and line.count('"') % 2 == 0 \
            and next_piece.lstrip().startswith('"'):
        return [f'{space}"{v}"' for v in values]
    return None


def allowed_tokens(partial: str, options: Sequence[str], pieces: Sequence[str]) -> list[int]:
    """Token ids whose text keeps ``partial`` a prefix of an option (or completes one)."""
    rests = [o[len(partial):] for o in options if o.startswith(partial)]
    return [i for i, p in enumerate(pieces) if p and any(r.startswith(p) or p.startswith(r) for r in rests)]


@lru_cache(maxsize=8)
def token_pieces(tokenizer: Any) -> tuple[str, ...]:
    """Each token id's text (the vocabulary is scanned at every constrained step)."""
    return tuple(tokenizer.decode([i]) for i in range(len(tokenizer)))


def best_option(model: Any, tokenizer: Any, context: list[int], options: Sequence[str]) -> int:
    """Index of the option whose tokens the model finds likeliest after ``context`` (mean
    log-probability per token, so that a long email is not beaten by a short word for its
    length alone), all options in one batch."""
    import torch

    rows = [tokenizer(o, add_special_tokens=False)["input_ids"] for o in options]
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    batch = torch.tensor([context + r + [pad] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * (len(context) + len(r)) + [0] * (width - len(r)) for r in rows])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=batch, attention_mask=mask).logits.float(), -1)
    scores = []
    for i, r in enumerate(rows):
        pos = torch.arange(len(context), len(context) + len(r))
        scores.append(float(logp[i, pos - 1, batch[i, pos]].mean()))
    return max(range(len(options)), key=scores.__getitem__)


def constrained_generate(model: Any, tokenizer: Any, prompt: str, prompt_ids: list[int], tools: Sequence[str],
                         max_new_tokens: int, stop: str = "<end>") -> str:
    """Greedy continuation of ``prompt_ids`` with the tool and string-value slots constrained
    (see the module docstring); stops at EOS, ``stop`` or ``max_new_tokens``."""
    import torch

    pieces = token_pieces(tokenizer)
    values = value_candidates(prompt)
    text, ids = "", []
    options: list[str] | None = None
    slot_start = 0
    past, fed = None, 0  # KV cache over prompt_ids + ids[:fed]
    while len(ids) < max_new_tokens and stop not in text:
        seq = prompt_ids + ids
        with torch.no_grad():
            out = model(input_ids=torch.tensor([seq[fed:]]), past_key_values=past, use_cache=True)
        past, fed = out.past_key_values, len(seq)
        logits = out.logits[0, -1].float()
        if options is None:
            opened = slot_options(text, pieces[int(logits.argmax())], tools, values)
            if opened and opened[0].lstrip().startswith('"'):  # a value: score whole spans
                pick = opened[best_option(model, tokenizer, seq, opened)]
                ids += tokenizer(pick, add_special_tokens=False)["input_ids"]
                text += pick
                continue
            if opened:
                options, slot_start = opened, len(text)
        if options is not None:
            partial = text[slot_start:]
            allowed = allowed_tokens(partial, options, pieces)
            if allowed:
                masked = torch.full_like(logits, float("-inf"))
                masked[allowed] = logits[allowed]
                logits = masked
            else:
                options = None
        token = int(logits.argmax())
        if token == tokenizer.eos_token_id:
            break
        ids.append(token)
        text += pieces[token]
        if options is not None and any(text[slot_start:].startswith(o) for o in options):
            options = None  # the slot is filled
    cut = text.find(stop)
    return text[:cut] if cut >= 0 else text
