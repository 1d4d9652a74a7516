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
  spans of the prompt (runs of id/email characters holding a digit or an ``@``, all-capitals codes, and quoted
  JSON values) not already used as a value of this call, the one with the highest mean
  token log-likelihood (closing quote included);
* given the tools' parameter names (``tools`` as a mapping), the rest of the call's format
  too: ``Action Input: {`` after the tool line, keys among the tool's parameters not yet used,
  ``,`` or ``}`` after a string value, the end marker after ``}``; and a role's opening (a
  caller starts with ``Action:``, a backbone's line after its thought with ``Action:`` or
  ``conclusion:``). A weak model that knows the format but drifts out of it mid-call still
  sends a well-formed call; which key, tool and span remain its choices.

Inside the tool slot each token is still the model's own greedy choice among the tokens that
keep the text a prefix of some tool name; a value is the model's likeliest span. The model
decides *which* tool and *which* span, the decoder only removes text that could not be
right. The candidates come from the prompt and the env's tool list alone (never from the
task's gold), and every system, trained or not, decodes the same way. Its price: a value the
history does not contain cannot be written (a string slot is never left to free decoding: once
every span is spent the spans may repeat, and a prompt with none gives ``""``), a hallucinated
tool name cannot occur, and a call uses one string twice only once every other span is spent,
so the hallucination rate of a constrained run is 0 by construction (report the free-decoding
rate for that metric).
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Mapping, Sequence, Union

_ACTION = re.compile(r"Action:[ \t]?$")
_ARGS = re.compile(r'Action Input:|"arguments":')  # where a call's argument object starts (both formats)
_KEY_DONE = re.compile(r'^(?:Action Input:|"arguments":)[ \t]*\{(?:[^\n]*?,)?[ \t]*"[^"\n]*"[ \t]*:[ \t]?$')
_SPAN = re.compile(r"[A-Za-z0-9][A-Za-z0-9@._+\-]*[A-Za-z0-9]")
_CODE = re.compile(r"[A-Z0-9][A-Z0-9._\-]{2,}[A-Z0-9]")  # an all-capitals code (ACC-CTG-ESC): an id without a digit
_QUOTED_VALUE = re.compile(r':[ \t]*"([^"\n]{1,80})"')  # a JSON string value (after a key)
_KEY_OPEN = re.compile(r'^(?:Action Input:|"arguments":)[ \t]*\{(?:[^\n]*,)?[ \t]*$')
_TOOL_LINE = re.compile(r'Action:[ \t]*([^\n]+?)[ \t]*\n|"name":[ \t]*"([^"\n]+)"')
_HERMES_NAME = re.compile(r'<tool_call>\s*\{[ \t]*"name":[ \t]?$')
_HERMES_NAMED = re.compile(r'<tool_call>\s*\{[ \t]*"name":[ \t]*"[^"\n]+"$')
HERMES_OPEN = '<tool_call>\n{"name":'
FREE_TEXT_KEYS = frozenset({"content"})  # a message's body (respond) is language, not a span to copy
_USED_KEY = re.compile(r'"([^"\n]*)"[ \t]*:')
_USED_VALUE = re.compile(r':[ \t]*"([^"\n]*)"')
_VALUE_DONE = re.compile(r'"[^"\n]*"[ \t]*:[ \t]*"[^"\n]*"[ \t]*$')
_TOOL_DONE = re.compile(r"(?:^|\n)Action:[ \t]*[^\n]+\n$")
END_MARK = "\n<end>"
_NON_STRING = tuple("0123456789-[{") + ("t", "f", "n")  # how a JSON number, list, object, bool or null begins
MAX_CANDIDATES = 256
Tools = Union[Sequence[str], Mapping[str, Sequence[str]]]  # names, or name -> its parameter names


def tool_parameters(schemas: Mapping[str, Any]) -> dict[str, list[str]]:
    """name -> parameter names, from the env's JSON schemas (what the decoder's key slot allows)."""
    out = {}
    for name, schema in schemas.items():
        f = schema.get("function", schema)
        out[name] = list((f.get("parameters") or {}).get("properties") or {})
    return out


def _is_entity(span: str) -> bool:
    """An id or email: holds a digit or an ``@``, or is an all-capitals code (``ACC-CTG-ESC``)."""
    return any(c.isdigit() or c == "@" for c in span) or _CODE.fullmatch(span) is not None


def value_candidates(prompt: str) -> list[str]:
    """Spans of ``prompt`` a string argument may copy, in order of first appearance, without
    duplicates: entity-like runs (ids, emails: a run with a digit or an ``@``, or an all-capitals
    code of four or more characters; plain words are left out, or a weak model's favourite word,
    "my", wins the slot) and quoted JSON values."""
    runs = [m.group(0) for m in _SPAN.finditer(prompt) if _is_entity(m.group(0))]
    found = runs + [m.group(1) for m in _QUOTED_VALUE.finditer(prompt)]
    return list(dict.fromkeys(s for s in found if s.strip()))[:MAX_CANDIDATES]


def slot_options(text: str, next_piece: str, tools: Tools, values: Sequence[str],
                 role: str | None = None) -> list[str] | None:
    """The texts a slot opened at the end of ``text`` may take (``next_piece``: the model's
    greedy next token, which says whether it opens a string), or None where no slot opens.

    ``tools`` as a mapping (name -> parameter names) turns on the call grammar: the line after
    ``Action: <tool>`` is ``Action Input: {``, keys are the tool's parameters, a string value
    is followed by ``,`` or ``}`` and the closing ``}`` by the end marker. ``role`` adds the
    role's opening: a caller's text starts with ``Action:``; a backbone's line after its
    thought starts with ``Action:`` or ``conclusion:``; an executor (MOAT) writes a Hermes
    call, ``<tool_call>\n{"name": <tool>, "arguments": {...}}\n</tool_call>``, with the same
    slots (a ``respond`` message's ``content`` stays free)."""
    space = "" if text.endswith(" ") else " "
    if _ACTION.search(text):
        return [f"{space}{t}\n" for t in tools]
    if _HERMES_NAME.search(text):
        return [f'{space}"{t}"' for t in tools]
    if _HERMES_NAMED.search(text):
        return [', "arguments": {']
    grammar = isinstance(tools, Mapping)
    if role == "caller" and not text.strip():
        return ["Action:"]
    if role == "executor" and not text.strip():
        return [HERMES_OPEN]
    if role == "backbone" and text.endswith("\n") and text.strip() and "Action:" not in text \
            and "conclusion:" not in text:
        return ["Action:", "conclusion:"]
    if grammar and _TOOL_DONE.search(text):
        return ["Action Input: {"]
    starts = [m.start() for m in _ARGS.finditer(text)]
    line = text[starts[-1]:] if starts else ""
    hermes = line.startswith('"arguments"')
    if not line or "\n" in line or line.count('"') % 2:
        return None
    used_values = set(_USED_VALUE.findall(line))
    if _KEY_DONE.search(line):
        piece = next_piece.lstrip()
        key = _USED_KEY.findall(line)[-1]
        if key in FREE_TEXT_KEYS or (not piece.startswith('"') and (not grammar or piece[:1] in _NON_STRING)):
            return None  # a message, a number, a list ...: free (the grammar opens a string unless one of those starts)
        fresh = [v for v in values if v not in used_values] or list(values) or [""]
        return [f'{space}"{v}"' for v in fresh]  # never free: spent spans may repeat, none left: ""
    if not grammar:
        return None
    named = [a or b for a, b in _TOOL_LINE.findall(text[:starts[-1]])]
    used = set(_USED_KEY.findall(line)) - {"arguments"}
    keys = [k for k in tools.get(named[-1], []) if k not in used] if named else []
    if _KEY_OPEN.search(line):
        sep = "" if line.endswith(("{", " ")) else " "
        close = ["}"] if line.rstrip().endswith("{") else []
        return [f'{sep}"{k}":' for k in keys] + close or None
    if _VALUE_DONE.search(line):
        return [",", "}"] if keys else ["}"]
    if line.endswith("}"):
        return ["}\n</tool_call>"] if hermes else [END_MARK]
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


def constrained_generate(model: Any, tokenizer: Any, prompt: str, prompt_ids: list[int], tools: Tools,
                         max_new_tokens: int, stop: str = "<end>", role: str | None = None) -> str:
    """Greedy continuation of ``prompt_ids`` with the call's slots constrained (see the module
    docstring and :func:`slot_options`); stops at EOS, ``stop`` or ``max_new_tokens``."""
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
            opened = slot_options(text, pieces[int(logits.argmax())], tools, values, role)
            if opened and opened[0].lstrip().startswith('"') and not opened[0].endswith(":"):  # a value: whole spans
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
