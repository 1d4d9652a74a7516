"""A tiny random-weight causal LM with a real tokenizer and a Qwen-style chat template, built offline.

Tests, examples and smoke-training runs need a model that loads with ``AutoModelForCausalLM``,
speaks the chat format (``<|im_start|>``, ``<tool_call>``...) and generates in milliseconds,
without touching a model hub. ``build_tiny_lm`` trains a small byte-level BPE on the shipped
FRAMES questions, instantiates a Qwen3 or Llama architecture from its config class with seeded
random weights, and saves both. Results are cached by their parameters.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Iterator

BUILD_VERSION = 1  # bump when the template or tokenizer recipe changes: invalidates caches
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
# Kept on decode (like Qwen's): a policy's parser must still see them after skip_special_tokens.
TOOL_TOKENS = ("<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>")
ARCHS = ("qwen3", "llama")

# transformers renders templates with trim_blocks, so a newline right after a block tag is
# written as {{ '\n' }} (a Jinja escape).
# Hermes-style tool format, as Qwen models use it: tool signatures as JSON lines inside <tools>,
# calls as {"name": ..., "arguments": {...}} inside <tool_call>, results as <tool_response>.
CHAT_TEMPLATE = (
    "{% set system = messages[0]['content'] if messages and messages[0]['role'] == 'system' else '' %}"
    "{% if tools %}"
    "<|im_start|>system\n{{ system }}{% if system %}{{ '\\n\\n' }}{% endif %}# Tools\n\n"
    "You may call one or more functions to help with the user's request.\n\n"
    "Function signatures are listed inside <tools></tools> XML tags:\n<tools>"
    "{% for tool in tools %}{{ '\\n' }}{{ tool | tojson }}{% endfor %}{{ '\\n' }}</tools>\n\n"
    "To call a function, write a JSON object with its name and arguments inside "
    "<tool_call></tool_call> XML tags:\n<tool_call>\n"
    "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n"
    "{% elif system %}"
    "<|im_start|>system\n{{ system }}<|im_end|>\n"
    "{% endif %}"
    "{% for m in messages %}"
    "{% if loop.first and m['role'] == 'system' %}"
    "{% elif m['role'] == 'tool' %}"
    "{% if loop.first or messages[loop.index0 - 1]['role'] != 'tool' %}<|im_start|>user{% endif %}"
    "{{ '\\n' }}<tool_response>\n{{ m['content'] }}\n</tool_response>"
    "{% if loop.last or messages[loop.index0 + 1]['role'] != 'tool' %}<|im_end|>\n{% endif %}"
    "{% else %}"
    "<|im_start|>{{ m['role'] }}\n{{ m['content'] or '' }}"
    "{% for call in m.get('tool_calls') or [] %}"
    "{% set f = call['function'] if 'function' in call else call %}"
    "{% if m['content'] or not loop.first %}{{ '\\n' }}{% endif %}"
    "<tool_call>\n{\"name\": \"{{ f['name'] }}\", \"arguments\": "
    "{{ f['arguments'] if f['arguments'] is string else f['arguments'] | tojson }}}\n</tool_call>"
    "{% endfor %}"
    "<|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tiny_lm(
    path: str | Path | None = None,
    arch: str = "qwen3",
    vocab_size: int = 1024,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    seed: int = 0,
    logit_scale: float = 1.0,
) -> Path:
    """Write (or reuse) a tiny model folder loadable by ``AutoModelForCausalLM``/``AutoTokenizer``.

    ``logit_scale`` multiplies the final RMS norm's weight. At 1 the random model's logits are
    flat (std ~0.16 over the vocabulary: no hidden state puts more than ~26% on one token) and
    LoRA, which leaves that norm and the tied embedding frozen, cannot make it emit a 37-token tool
    call reliably; at 16 a hidden state can put ~99.9% on a token, as a trained LM's can, so
    what a LoRA adapter must learn is a hidden state (``"tiny-peaked"`` in :mod:`agents.policy`).

    Without ``path`` the model goes to ``cache_dir("tiny_lm", <params>)``. A folder already built
    with the same parameters is returned untouched, so calling this in every test is cheap.
    """
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, not {arch!r}")
    if vocab_size < 300:
        raise ValueError(f"vocab_size must be at least 300 (256 bytes + special tokens), not {vocab_size}")
    if hidden_size % heads:
        raise ValueError(f"hidden_size ({hidden_size}) must be divisible by heads ({heads})")
    params = dict(arch=arch, vocab_size=vocab_size, hidden_size=hidden_size, layers=layers, heads=heads, seed=seed, version=BUILD_VERSION)
    if logit_scale != 1.0:  # absent at 1: existing caches stay valid
        params["logit_scale"] = float(logit_scale)
    target = Path(path) if path is not None else _default_dir(params)
    marker = target / "tiny_lm.json"
    if marker.is_file() and json.loads(marker.read_text()) == params:
        return target

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tiny_lm-", dir=target.parent))
    try:
        tokenizer = _train_tokenizer(vocab_size)
        tokenizer.save_pretrained(staging)
        model = _build_model(tokenizer, arch, hidden_size, layers, heads, seed)
        if logit_scale != 1.0:
            import torch

            with torch.no_grad():
                model.model.norm.weight.mul_(float(logit_scale))
        model.save_pretrained(staging)
        (staging / "tiny_lm.json").write_text(json.dumps(params))
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)  # atomic on one file system: readers never see half a model
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _default_dir(params: dict) -> Path:
    from orchestra_env.cache import cache_dir

    name = "-".join(f"{k}{v}" for k, v in params.items())
    return cache_dir("tiny_lm") / name


def _corpus() -> Iterator[str]:
    """Training text: FRAMES questions and answers if shipped, else the package's own sources."""
    frames = resources.files("orchestra_env").joinpath("data/frames/frames.jsonl")
    if frames.is_file():
        for line in frames.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            yield row["question"]
            yield str(row["answer"])
    else:
        for source in Path(__file__).parent.rglob("*.py"):
            yield source.read_text(encoding="utf-8")
    yield CHAT_TEMPLATE  # so JSON and tag punctuation get merges too


def _train_tokenizer(vocab_size: int):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in TOOL_TOKENS])
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", model_max_length=4096
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def _build_model(tokenizer, arch: str, hidden_size: int, layers: int, heads: int, seed: int):
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig, LlamaConfig, Qwen3Config

    config_cls = {"qwen3": Qwen3Config, "llama": LlamaConfig}[arch]
    config = config_cls(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 2),
        head_dim=hidden_size // heads,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):  # seeded weights without disturbing the caller's RNG
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None
    )
    return model
