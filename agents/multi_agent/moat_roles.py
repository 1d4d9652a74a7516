"""MOAT's two roles as LoRA adapters over one frozen base: generate with either, score with either.

The planner and the executor share the base weights and differ only by their adapter (a few
hundred KB each for the tiny model), so both fit in one process and a stage that trains one
role cannot touch the other: each stage loads *one* adapter as the trainable one, trains it
and writes it to a new folder (:mod:`agents.multi_agent.moat_train`). :class:`Roles` loads a
set of adapter folders for inference: batched sampling (the planner's K subgoal sequences)
and batched scoring (the executor's mean per-token cross-entropy of the gold actions).

Token accounting: a dialogue is tokenized piece by piece (:func:`encode_dialogue`): the text
the chat template puts around turns, then each assistant turn's content plus its end token
(the only tokens that are trained or scored). Generation sees the same pieces (the prompt
ends at ``<|im_start|>assistant\\n``), so what is scored is what would be generated.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

ROLES = ("planner", "executor", "single")


@dataclass
class RoleConfig:
    """The base model and the adapters' shape (shared by every role)."""

    model: str = "tiny"
    """A local model folder, or ``"tiny"``: a random-weight Qwen3 of :mod:`orchestra_env.tiny_lm`
    with 64 hidden units and 2 heads (head size 32), 2 layers, no download."""
    lora_rank: int = 8
    lora_alpha: int = 16
    target_modules: str = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"
    max_plan_tokens: int = 96
    """Most tokens a subgoal sequence may have (planner samples are cut there)."""
    max_action_tokens: int = 80
    """Most tokens of one executor action."""
    max_length: int = 1024
    """Longest training sequence (tokens); longer ones are cut from the right."""


def base_path(model: str) -> str:
    """The base model's folder (building the tiny model when asked for it)."""
    if model == "tiny":
        from orchestra_env.tiny_lm import build_tiny_lm

        return str(build_tiny_lm(arch="qwen3", hidden_size=64, heads=2, layers=2, vocab_size=1024, seed=0))
    return model


def load_base(config: RoleConfig) -> Any:
    from transformers import AutoModelForCausalLM

    import torch

    return AutoModelForCausalLM.from_pretrained(base_path(config.model), dtype=torch.float32)


def load_tokenizer(config: RoleConfig) -> Any:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base_path(config.model))
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def init_adapter(config: RoleConfig, path: str | Path, seed: int) -> Path:
    """A fresh LoRA adapter (B = 0: the role starts as the base model), saved to ``path``."""
    import torch
    from peft import LoraConfig, get_peft_model

    base = load_base(config)
    present = {n.rsplit(".", 1)[-1] for n, _ in base.named_modules()}
    targets = [m for m in config.target_modules.split(",") if m in present]
    if not targets:
        raise ValueError(f"none of target_modules={config.target_modules!r} exist in the base model; "
                         f"choose from {sorted(n for n in present if n.endswith('proj'))}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = get_peft_model(base, LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha,
                                                target_modules=targets, lora_dropout=0.0, task_type="CAUSAL_LM"))
    path = Path(path)
    model.save_pretrained(path)
    return path


def encode_dialogue(tokenizer: Any, messages: Sequence[Mapping[str, str]]) -> tuple[list[int], list[int]]:
    """Token ids of a chat and a mask that is 1 on assistant content + its end token only."""
    ids: list[int] = []
    mask: list[int] = []
    done = ""
    end = tokenizer.eos_token  # <|im_end|> closes a turn in the Qwen template

    def add(text: str, bit: int) -> None:
        piece = tokenizer(text, add_special_tokens=False)["input_ids"] if text else []
        ids.extend(piece)
        mask.extend([bit] * len(piece))

    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        prefix = tokenizer.apply_chat_template(list(messages[:i]), tokenize=False, add_generation_prompt=True)
        if not prefix.startswith(done):
            raise ValueError("the chat template does not render turns as a growing prefix; "
                             "encode_dialogue needs a Qwen/ChatML-style template")
        add(prefix[len(done):], 0)
        add(m["content"] + end, 1)
        done = prefix + m["content"] + end
    full = tokenizer.apply_chat_template(list(messages), tokenize=False)
    add(full[len(done):] if full.startswith(done) else "", 0)
    return ids, mask


def encode_prompt(tokenizer: Any, messages: Sequence[Mapping[str, str]]) -> list[int]:
    """The prompt for the next assistant turn, tokenized exactly as :func:`encode_dialogue`
    tokenizes the dialogue that turn will be part of."""
    ids, mask = encode_dialogue(tokenizer, [*messages, {"role": "assistant", "content": ""}])
    end = len(mask)
    while end and not mask[end - 1]:  # the template's text after the last turn
        end -= 1
    while end and mask[end - 1]:  # the empty turn's end token
        end -= 1
    return ids[:end]


class Roles:
    """Adapters (role -> folder) loaded over one base for inference."""

    def __init__(self, config: RoleConfig, adapters: Mapping[str, str | Path], device: str = "cpu") -> None:
        import torch
        from peft import PeftModel

        unknown = set(adapters) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown roles {sorted(unknown)}; roles are {ROLES}")
        self.config, self.device = config, torch.device(device)
        self.tokenizer = load_tokenizer(config)
        names = list(adapters)
        model = PeftModel.from_pretrained(load_base(config), str(adapters[names[0]]), adapter_name=names[0])
        for name in names[1:]:
            model.load_adapter(str(adapters[name]), adapter_name=name)
        self.model = model.to(self.device).eval()
        self.stop_ids = sorted({self.tokenizer.eos_token_id, self.tokenizer.convert_tokens_to_ids("<|im_end|>")})

    @contextlib.contextmanager
    def use(self, role: str) -> Iterator[Any]:
        self.model.set_adapter(role)
        yield self.model

    def generate(self, role: str, prompts: Sequence[list[int]], max_new_tokens: int,
                 temperature: float = 1.0, top_p: float = 1.0, greedy: bool = False,
                 seed: int | None = None, batch_size: int = 32) -> list[str]:
        """One completion per prompt (left-padded batches); text up to the first stop token."""
        import torch

        if seed is not None:
            torch.manual_seed(seed)
        pad = self.tokenizer.pad_token_id
        out: list[str] = []
        sampling: dict[str, Any] = dict(do_sample=False) if greedy or temperature <= 0 else dict(
            do_sample=True, temperature=temperature, top_p=top_p, top_k=0)
        with self.use(role) as model, torch.no_grad():
            for start in range(0, len(prompts), batch_size):
                chunk = prompts[start:start + batch_size]
                width = max(len(p) for p in chunk)
                ids = torch.full((len(chunk), width), pad, dtype=torch.long)
                mask = torch.zeros_like(ids)
                for i, p in enumerate(chunk):
                    ids[i, width - len(p):] = torch.tensor(p)
                    mask[i, width - len(p):] = 1
                gen = model.generate(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                     max_new_tokens=max_new_tokens, eos_token_id=self.stop_ids, pad_token_id=pad,
                                     **sampling)
                for row in gen[:, width:].tolist():
                    end = next((i for i, t in enumerate(row) if t in self.stop_ids), len(row))
                    out.append(self.tokenizer.decode(row[:end], skip_special_tokens=True))
        return out

    def mean_nll(self, role: str, sequences: Sequence[tuple[list[int], list[int]]],
                 batch_size: int = 16) -> list[float]:
        """Mean per-token cross-entropy (nats) of the masked tokens of each (ids, mask) sequence:
        the log-perplexity MOAT scores subgoals by. Right-padded batches, no gradient."""
        import torch

        pad = self.tokenizer.pad_token_id
        losses: list[float] = []
        with self.use(role) as model, torch.no_grad():
            for start in range(0, len(sequences), batch_size):
                chunk = sequences[start:start + batch_size]
                width = max(len(ids) for ids, _ in chunk)
                ids = torch.full((len(chunk), width), pad, dtype=torch.long)
                attn = torch.zeros_like(ids)
                target = torch.zeros_like(ids, dtype=torch.float32)
                for i, (seq, m) in enumerate(chunk):
                    ids[i, :len(seq)] = torch.tensor(seq)
                    attn[i, :len(seq)] = 1
                    target[i, :len(seq)] = torch.tensor(m, dtype=torch.float32)
                logits = model(input_ids=ids.to(self.device), attention_mask=attn.to(self.device)).logits[:, :-1].float()
                nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), ids[:, 1:].to(self.device),
                                                        reduction="none")
                weight = target[:, 1:].to(self.device)
                losses += ((nll * weight).sum(1) / weight.sum(1).clamp(min=1)).tolist()
        return losses
