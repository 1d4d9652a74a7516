"""A causal-LM policy with a LoRA adapter: renders observations with the chat template,
generates tool calls in batches, and scores tokens for the trainers.

Only the adapter trains (``full_finetune=True`` trains everything); the reference model for the
KL term is the same network with the adapter disabled, so it costs no extra memory. Adapters
save and load on their own (a few MB), apart from the base weights.

``model="tiny"`` builds the random-weight test model of :mod:`orchestra_env.tiny_lm` (no
download); anything else is a local folder or a hub id that ``from_pretrained`` can open.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

if TYPE_CHECKING:
    import torch


@dataclass
class PolicyConfig:
    """How to build the policy (every field is an ``agents.train`` flag)."""

    model: str = "tiny"
    """A hub id, a local folder, or ``"tiny"`` / ``"tiny-llama"`` / ``"tiny-peaked"`` (the tiny Qwen3
    with its final norm x16, so LoRA can make it emit whole tool calls) (:mod:`orchestra_env.tiny_lm`, no download)."""
    start_from: str | None = None
    """A LoRA adapter folder (e.g. ``orchestra sft``'s output) merged into the base weights before
    the new adapter is added: training starts from that policy, and the KL reference is it."""
    lora_rank: int = 16
    """Rank of the LoRA adapter (the only weights that train unless ``full_finetune``)."""
    lora_alpha: int = 32
    """LoRA scale numerator: the adapter's output is multiplied by ``lora_alpha / lora_rank``."""
    lora_dropout: float = 0.0
    """Dropout inside the adapter; 0 keeps old and new log-probs of the clipped ratio comparable."""
    target_modules: str = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"
    """Comma-separated linear layers that get an adapter; names absent from the model are skipped."""
    full_finetune: bool = False
    """Train every weight (and keep a frozen copy as the KL reference) instead of an adapter."""
    value_head: bool = False
    """Add PPO's critic: a zero-initialised linear head on the last hidden state."""
    max_new_tokens: int = 256
    """Most tokens sampled per turn; a turn cut here is closed by a stop token (not trained)."""
    max_context_tokens: int = 8192
    """An episode whose context would outgrow this is cut and counted as wrong."""
    temperature: float = 1.0
    """Sampling temperature (1 samples the policy the trainer scores)."""
    top_p: float = 1.0
    """Nucleus sampling; below 1 the samples are not from the scored distribution."""
    dtype: str = "float32"
    """Weights' dtype: float32, bfloat16 or float16."""
    device: str = "auto"
    """A torch device; ``auto`` picks cuda when available."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: less memory for long contexts, more compute."""
    tool_schemas: bool = True
    """Render the env's tool schemas in the prompt. False leaves them out (the FRAMES prompt
    shrinks ~7x): for small CPU runs whose policy learns a fixed menu by SFT; it cannot then read
    a new tool's description."""
    max_output_chars: int | None = None
    """Cut each tool output to this many characters in the policy's own prompt (the env, its
    experts and the judge still see all of it); None keeps everything."""
    init_seed: int = 0
    """Seed of the adapter's (and value head's) initialisation: the same config builds the same
    starting policy whatever ran before in the process (the global torch RNG is left as it was)."""


class LLMPolicy:
    """The LM, its tokenizer and the few operations the trainers need; it holds no episode.

    Stateless by design: rollouts keep their own :class:`~agents.rollout.TokenSequence`, so one
    policy serves a batch of episodes. To run it in :func:`agents.baselines.evaluate`, wrap it in
    :class:`~agents.llm_agent.LLMAgent` (which keeps one episode's tokens).
    """

    def __init__(self, config: PolicyConfig) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.config = config
        path = _resolve_model(config.model)
        self.device = torch.device(
            ("cuda" if torch.cuda.is_available() else "cpu") if config.device == "auto" else config.device
        )
        dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[config.dtype]
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if self.tokenizer.chat_template is None:
            raise ValueError(f"{config.model} has no chat template; use an instruct/chat model")
        base = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        if config.start_from:
            base = _merged(base, config.start_from)
        if config.gradient_checkpointing:
            base.gradient_checkpointing_enable()
            base.config.use_cache = False
        self.frozen_reference = None
        if config.full_finetune:
            import copy

            self.frozen_reference = copy.deepcopy(base).eval().requires_grad_(False).to(self.device)
            self.model = base
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(config.init_seed)
                self.model = _with_lora(base, config)
        self.model.to(self.device)
        self.value_head = None
        if config.value_head:
            hidden = base.config.hidden_size
            self.value_head = torch.nn.Linear(hidden, 1).to(self.device, dtype)
            torch.nn.init.zeros_(self.value_head.weight)
            torch.nn.init.zeros_(self.value_head.bias)
        self.eos_ids = _stop_ids(self.tokenizer, base)

    # -------------------------------------------------------------------- parameters
    def parameters(self) -> list["torch.nn.Parameter"]:
        """What the optimiser updates: the adapter (or all weights) and the value head."""
        params = [p for p in self.model.parameters() if p.requires_grad]
        if self.value_head is not None:
            params += list(self.value_head.parameters())
        return params

    def n_trainable(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @contextlib.contextmanager
    def reference(self) -> Iterator[Any]:
        """The frozen starting model (adapter disabled), for the KL term."""
        if self.frozen_reference is not None:
            yield self.frozen_reference
        else:
            with self.model.disable_adapter():
                yield self.model

    # -------------------------------------------------------------------- text
    def render(self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None,
               add_generation_prompt: bool) -> str:
        return self.tokenizer.apply_chat_template(
            list(messages), tools=list(tools) if tools else None, tokenize=False,
            add_generation_prompt=add_generation_prompt,
        )

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    # -------------------------------------------------------------------- generation
    def generate(self, prompts: Sequence[Sequence[int]], max_new_tokens: int | None = None,
                 greedy: bool = False) -> list[list[int]]:
        """Sample one completion per prompt in one left-padded batch; each ends at its first
        stop token (kept) or after ``max_new_tokens``."""
        import torch

        max_new = max_new_tokens or self.config.max_new_tokens
        pad = self.tokenizer.pad_token_id
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, p in enumerate(prompts):
            ids[i, width - len(p):] = torch.tensor(p)
            mask[i, width - len(p):] = 1
        sampling = dict(do_sample=False) if greedy else dict(
            do_sample=True, temperature=self.config.temperature, top_p=self.config.top_p, top_k=0)
        self.model.eval()
        with torch.no_grad():
            out = self.model.generate(
                input_ids=ids.to(self.device), attention_mask=mask.to(self.device), max_new_tokens=max_new,
                eos_token_id=self.eos_ids, pad_token_id=pad, **sampling,
            )
        completions = []
        for row in out[:, width:].tolist():
            end = next((i + 1 for i, t in enumerate(row) if t in self.eos_ids), len(row))
            completions.append(row[:end])
        return completions

    # -------------------------------------------------------------------- scoring
    def token_logprobs(self, input_ids: "torch.Tensor", attention_mask: "torch.Tensor",
                       model: Any = None, with_values: bool = False) -> dict[str, "torch.Tensor"]:
        """Log-probability of each token given its prefix (``[B, T-1]``, aligned with
        ``input_ids[:, 1:]``), the entropy there, and the critic's value of the prefix."""
        import torch

        model = model if model is not None else self.model
        out = model(input_ids=input_ids, attention_mask=attention_mask,
                    output_hidden_states=with_values, use_cache=False)
        logits = out.logits[:, :-1].float()
        logp_all = torch.log_softmax(logits, dim=-1)
        result = {"logprobs": logp_all.gather(-1, input_ids[:, 1:, None]).squeeze(-1)}
        result["entropy"] = -(logp_all.exp() * logp_all).sum(-1)
        if with_values:
            if self.value_head is None:
                raise ValueError("this policy has no value head: build it with value_head=True (PPO)")
            hidden = out.hidden_states[-1][:, :-1]
            result["values"] = self.value_head(hidden).squeeze(-1).float()
        return result

    # -------------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> None:
        """The adapter (or full weights), the value head and the tokenizer, nothing else."""
        import torch

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        if self.value_head is not None:
            torch.save(self.value_head.state_dict(), path / "value_head.pt")

    def load(self, path: str | Path) -> None:
        """Load weights saved by :meth:`save` into this policy (same base model)."""
        import torch

        path = Path(path)
        if self.config.full_finetune:
            from transformers import AutoModelForCausalLM

            state = AutoModelForCausalLM.from_pretrained(path).state_dict()
            self.model.load_state_dict(state)
        else:
            from peft import set_peft_model_state_dict
            from peft.utils import load_peft_weights

            set_peft_model_state_dict(self.model, load_peft_weights(str(path), device=str(self.device)))
        if self.value_head is not None and (path / "value_head.pt").is_file():
            self.value_head.load_state_dict(torch.load(path / "value_head.pt", map_location=self.device))


PEAKED_LOGIT_SCALE = 16.0


def _resolve_model(name: str) -> str:
    if name == "tiny":
        from orchestra_env.tiny_lm import build_tiny_lm

        return str(build_tiny_lm())
    if name == "tiny-peaked":
        from orchestra_env.tiny_lm import build_tiny_lm

        return str(build_tiny_lm(logit_scale=PEAKED_LOGIT_SCALE))
    if name.startswith("tiny-"):  # tiny-llama, tiny-qwen3
        from orchestra_env.tiny_lm import build_tiny_lm

        return str(build_tiny_lm(arch=name.removeprefix("tiny-")))
    return name


def _merged(base: Any, adapter: str) -> Any:
    """``base`` with the LoRA adapter saved at ``adapter`` folded into its weights."""
    from peft import PeftModel

    if not (Path(adapter) / "adapter_config.json").is_file():
        raise FileNotFoundError(f"start_from={adapter!r} holds no adapter_config.json; pass the folder "
                                "`orchestra sft` (or LLMPolicy.save) wrote")
    return PeftModel.from_pretrained(base, adapter).merge_and_unload()


def _with_lora(base: Any, config: PolicyConfig) -> Any:
    from peft import LoraConfig, get_peft_model

    wanted = [m.strip() for m in config.target_modules.split(",") if m.strip()]
    present = {name.rsplit(".", 1)[-1] for name, _ in base.named_modules()}
    targets = [m for m in wanted if m in present]
    if not targets:
        raise ValueError(
            f"none of the LoRA target modules {wanted} exist in {type(base).__name__}; "
            f"pass --target-modules with some of: {sorted(n for n in present if n.endswith('proj'))}"
        )
    lora = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=targets, task_type="CAUSAL_LM")
    return get_peft_model(base, lora)


def _stop_ids(tokenizer: Any, model: Any) -> list[int]:
    """Tokens that end a turn: the tokenizer's eos and the generation config's."""
    ids = {tokenizer.eos_token_id}
    configured = getattr(model.generation_config, "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured])
    for token in ("<|im_end|>", "<|eot_id|>"):
        tid = tokenizer.convert_tokens_to_ids(token)
        if isinstance(tid, int) and tid != tokenizer.unk_token_id:
            ids.add(tid)
    return sorted(i for i in ids if i is not None)
