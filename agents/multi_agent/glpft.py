"""GLPFT, global-to-local progressive fine-tuning (alpha-UMi's training), on TRL's SFTTrainer.

Stage 1 (global) fine-tunes one *backbone* on whole trajectories (thought + call merged, see
:mod:`agents.multi_agent.data`); stage 2 (local) starts every role from the backbone and
fine-tunes it on its own examples only. Defaults are the paper's (``GLPFT/scripts``):

==========  ======  ======  ======  =========================
stage       epochs  lr      warmup  schedule, weight decay
==========  ======  ======  ======  =========================
backbone    2       5e-5    0.4     cosine, 0.01
planner     1       1e-5    0.2     cosine, 0.01
caller      1       1e-5    0.2     cosine, 0.01
summarizer  2       1e-5    0.4     cosine, 0.01
==========  ======  ======  ======  =========================

Two memory modes (:class:`Team`):

* ``"lora"`` (default): one frozen base and one LoRA adapter per role (peft multi-adapter);
  each role's adapter is a copy of the backbone's when stage 2 starts, and only the active
  role's adapter is trainable while it trains;
* ``"copies"``: the paper's setting, a full copy of the model per role (stage 2 deep-copies
  the fully fine-tuned backbone). Memory: 4 models.

Checkpoints: each stage writes ``<out>/<stage>/`` when done (adapter or model) and
``<out>/glpft_state.json``; a run with ``resume=True`` skips finished stages and resumes an
unfinished one from its last Trainer checkpoint (``<out>/<stage>/checkpoints``).
"""
from __future__ import annotations

import copy
import json
import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

from agents.multi_agent.data import RoleExample, Trajectory, encode, role_datasets
from agents.multi_agent.roles import END, ROLES, PromptConfig

logger = logging.getLogger(__name__)
Mode = Literal["lora", "copies"]
STAGES = ("backbone",) + ROLES
PROMPT_SLACK = 16  # generation keeps max_length - PROMPT_SLACK prompt tokens
TINY_CONFIG = dict(hidden_size=128, heads=2, layers=2, vocab_size=1024, seed=0)  # head size 64: vLLM can serve it


@dataclass(frozen=True)
class StageConfig:
    epochs: float
    lr: float
    warmup_ratio: float
    weight_decay: float = 0.01
    scheduler: str = "cosine"


PAPER_STAGES: dict[str, StageConfig] = {
    "backbone": StageConfig(2, 5e-5, 0.4),
    "planner": StageConfig(1, 1e-5, 0.2),
    "caller": StageConfig(1, 1e-5, 0.2),
    "summarizer": StageConfig(2, 1e-5, 0.4),
}


@dataclass
class GLPFTConfig:
    """Everything a GLPFT run needs (the CLI's flags map onto these fields)."""

    model: str = "tiny"  # an HF model path / id, or "tiny" (orchestra_env.tiny_lm)
    mode: Mode = "lora"
    stages: dict[str, StageConfig] = field(default_factory=lambda: dict(PAPER_STAGES))
    lr_scale: float = 1.0  # multiplies every stage's lr (a random-weight tiny model needs ~100x)
    epoch_scale: float = 1.0  # multiplies every stage's epochs
    max_length: int = 1024  # tokens; prompts are left-truncated to fit
    batch_size: int = 4
    grad_accum: int = 1
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    train_norms: bool = True  # each role also gets its own RMSNorm weights (tiny; lets LoRA sharpen logits)
    seed: int = 0
    save_steps: int = 50
    prompt: PromptConfig = field(default_factory=PromptConfig)
    single: bool = False  # backbone only (the single-LLM baseline): no stage 2
    single_epochs: float | None = None  # the baseline's epochs, unscaled (set to match a team's total steps)

    def stage(self, name: str) -> StageConfig:
        s = self.stages[name]
        if self.single and name == "backbone" and self.single_epochs:  # absolute: set to match a team's steps
            return replace(s, lr=s.lr * self.lr_scale, epochs=self.single_epochs)
        return replace(s, lr=s.lr * self.lr_scale, epochs=s.epochs * self.epoch_scale)


def load_base(model: str, dtype: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) of an HF path, or of the tiny random-weight Qwen3 for ``"tiny"``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if model == "tiny":
        from orchestra_env.tiny_lm import build_tiny_lm

        model = str(build_tiny_lm(**TINY_CONFIG))
    tok = AutoTokenizer.from_pretrained(model)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    lm = AutoModelForCausalLM.from_pretrained(model, dtype=dtype or torch.float32)
    return lm, tok


class Team:
    """The models behind the roles: one base with per-role LoRA adapters, or full copies.

    ``generate(role, prompt)`` is all the agent needs; ``trainable(role)`` is what a stage
    trains. The backbone is a role too (stage 1, and the single-LLM baseline)."""

    def __init__(self, model: Any, tokenizer: Any, mode: Mode = "lora", lora: Mapping[str, Any] | None = None) -> None:
        if mode not in ("lora", "copies"):
            raise ValueError(f"mode must be 'lora' or 'copies', not {mode!r}")
        self.tokenizer, self.mode = tokenizer, mode
        self.models: dict[str, Any] = {}
        if mode == "lora":
            from peft import LoraConfig, get_peft_model

            opts = dict(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear")
            opts.update(lora or {})
            self.lora_config = LoraConfig(task_type="CAUSAL_LM", **opts)
            self.peft = get_peft_model(model, self.lora_config, adapter_name="backbone")
        else:
            self.models["backbone"] = model

    @classmethod
    def from_config(cls, config: GLPFTConfig) -> "Team":
        model, tok = load_base(config.model)
        return cls(model, tok, config.mode, _lora_options(config.__dict__))

    # ------------------------------------------------------------------ roles
    def has(self, role: str) -> bool:
        return role in (self.peft.peft_config if self.mode == "lora" else self.models)

    def init_role(self, role: str, source: str = "backbone") -> None:
        """Start ``role`` as a copy of ``source`` (stage 2 starts every role from the backbone)."""
        if self.mode == "lora":
            from peft import get_peft_model_state_dict, set_peft_model_state_dict

            if not self.has(role):
                self.peft.add_adapter(role, self.lora_config)
            weights = get_peft_model_state_dict(self.peft, adapter_name=source)
            set_peft_model_state_dict(self.peft, weights, adapter_name=role)
        else:
            self.models[role] = _clean_copy(self.models[source])

    def role_of(self, role: str) -> str:
        """The role that answers for ``role``: itself, else the backbone (an untrained team
        or the single-LLM baseline has the backbone only)."""
        return role if self.has(role) else "backbone"

    def trainable(self, role: str) -> Any:
        """The model to train for ``role``, with only that role's parameters trainable."""
        if self.mode == "copies":
            model = self.models[role]
            for p in model.parameters():
                p.requires_grad_(True)
            return model
        self.peft.set_adapter(role)
        for name, p in self.peft.named_parameters():
            p.requires_grad_(f".{role}." in name and ("lora_" in name or "modules_to_save" in name))
        return self.peft

    def adapter_state(self, role: str) -> dict[str, Any]:
        """A detached copy of a role's trainable weights (for tests and checks)."""
        if self.mode == "lora":
            from peft import get_peft_model_state_dict

            return {k: v.detach().clone() for k, v in get_peft_model_state_dict(self.peft, adapter_name=role).items()}
        return {k: v.detach().clone() for k, v in self.models[role].state_dict().items()}

    def _model(self, role: str) -> Any:
        role = self.role_of(role)
        if self.mode == "lora":
            self.peft.set_adapter(role)
            return self.peft
        return self.models[role]

    def generate(self, role: str, prompt: str, max_new_tokens: int = 96, max_length: int = 1024,
                 tools: Sequence[str] | Mapping[str, Sequence[str]] | None = None, prompt_tokens: int = 0) -> str:
        """Greedy continuation of ``prompt`` by ``role``, stopped at the end marker. The prompt
        keeps its newest ``prompt_tokens`` tokens (the window training kept, see
        :func:`~agents.multi_agent.data.encode`), or with 0 its newest ``max_length - PROMPT_SLACK``:
        training prompts were cut to ``max_length`` minus their target, so a short target saw
        nearly that much context.
        With ``tools`` (names, or name -> parameter names), the tool name, keys and string values
        of a call are chosen among those tools, their parameters and the prompt's spans (:func:`agents.multi_agent.decoding.constrained_generate`)."""
        import torch

        model = self._model(role)
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        ids = ids[-max(1, prompt_tokens or max_length - PROMPT_SLACK):]
        was_training = model.training
        model.eval()
        if tools is not None:
            from agents.multi_agent.decoding import constrained_generate

            text = constrained_generate(model, self.tokenizer, prompt, ids, tools, max_new_tokens, END.strip(), role)
            if was_training:
                model.train()
            return text
        with torch.no_grad():
            out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                 max_new_tokens=max_new_tokens, do_sample=False,
                                 eos_token_id=self.tokenizer.eos_token_id, pad_token_id=self.tokenizer.pad_token_id)
        if was_training:
            model.train()
        text = self.tokenizer.decode(out[0, len(ids):], skip_special_tokens=True)
        cut = text.find(END.strip())
        return text[:cut] if cut >= 0 else text

    def score(self, role: str, prompt: str, completion: str, max_length: int = 1024, prompt_tokens: int = 0) -> float:
        """Mean token log-likelihood of ``completion`` after ``prompt`` (for diagnostics)."""
        import torch

        ex = encode(RoleExample(role, prompt, completion, "", 0), self.tokenizer, max_length, prompt_tokens)
        model = self._model(role)
        with torch.no_grad():
            ids = torch.tensor([ex["input_ids"]])
            logits = model(ids).logits[0, :-1]
            mask = torch.tensor(ex["completion_mask"][1:], dtype=torch.bool)
            logp = torch.log_softmax(logits.float(), -1).gather(1, ids[0, 1:, None])[:, 0]
        return float(logp[mask].mean())

    # ------------------------------------------------------------------ persistence
    def save_role(self, role: str, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        if self.mode == "lora":
            self.peft.save_pretrained(str(path), selected_adapters=[role])
        else:
            self.models[role].save_pretrained(str(path))
        self.tokenizer.save_pretrained(str(path))

    def load_role(self, role: str, path: Path) -> None:
        """Load a role saved by :meth:`save_role` (replacing it if present)."""
        if self.mode == "lora":
            from peft import set_peft_model_state_dict
            from peft.utils import load_peft_weights

            sub = path / role if (path / role / "adapter_config.json").is_file() else path
            if not self.has(role):
                self.peft.add_adapter(role, self.lora_config)
            set_peft_model_state_dict(self.peft, load_peft_weights(str(sub)), adapter_name=role)
        else:
            from transformers import AutoModelForCausalLM

            self.models[role] = AutoModelForCausalLM.from_pretrained(str(path))

    @classmethod
    def load(cls, out_dir: str | Path, model: str | None = None) -> "Team":
        """A trained team from a GLPFT output folder (every finished stage)."""
        out = Path(out_dir)
        state = json.loads((out / "glpft_state.json").read_text())
        config = state["config"]
        base, tok = load_base(model or config["model"])
        team = cls(base, tok, config["mode"], _lora_options(config))
        for stage in state["done"]:
            team.load_role(stage, out / stage)
        return team


def _clean_copy(model: Any) -> Any:
    """A new model with ``model``'s weights. Not ``copy.deepcopy``: a model the Trainer has
    trained carries a patched ``forward`` (accelerate's wrapper) whose closure points at the
    original, so a deep copy would silently run the source model."""
    import torch

    with torch.random.fork_rng(devices=[]):  # the throwaway init must not move the caller's RNG
        clone = type(model)(model.config)
    clone.load_state_dict(model.state_dict())  # copies values; tied weights stay tied
    clone.generation_config = copy.deepcopy(model.generation_config)
    return clone


def _lora_options(config: Mapping[str, Any]) -> dict[str, Any]:
    opts = dict(r=config["lora_r"], lora_alpha=config["lora_alpha"], lora_dropout=config["lora_dropout"])
    if config.get("train_norms", True):
        opts["modules_to_save"] = ["norm"]  # every *norm module (final, per-layer, q/k norms)
    return opts


# ----------------------------------------------------------------------------- training


def _dataset(examples: Sequence[RoleExample], tokenizer: Any, max_length: int, prompt_tokens: int = 0) -> Any:
    from datasets import Dataset

    return Dataset.from_list([encode(e, tokenizer, max_length, prompt_tokens) for e in examples])


def train_stage(team: Team, stage: str, examples: Sequence[RoleExample], config: GLPFTConfig,
                out_dir: Path, resume: bool = False) -> dict[str, Any]:
    """One stage on SFTTrainer (completion-only loss); returns its log summary."""
    from trl import SFTConfig, SFTTrainer

    if not examples:
        raise ValueError(f"stage {stage!r} has no examples: the trajectories give this role nothing to learn")
    hp = config.stage(stage)
    ckpt_dir = out_dir / stage / "checkpoints"
    args = SFTConfig(
        output_dir=str(ckpt_dir),
        num_train_epochs=hp.epochs,
        learning_rate=hp.lr,
        warmup_steps=hp.warmup_ratio,  # a float in [0, 1) is a ratio of the total steps (transformers 5)
        lr_scheduler_type=hp.scheduler,
        weight_decay=hp.weight_decay,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        completion_only_loss=True,
        max_length=config.max_length,
        logging_steps=10,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=1,
        report_to=[],
        seed=config.seed,
        data_seed=config.seed,
        use_cpu=not _cuda(),
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    model = team.trainable(stage)
    trainer = SFTTrainer(model=model, args=args, train_dataset=_dataset(examples, team.tokenizer, config.max_length,
                                                                    config.prompt.prompt_tokens),
                         processing_class=team.tokenizer)
    last = _last_checkpoint(ckpt_dir) if resume else None
    result = trainer.train(resume_from_checkpoint=str(last) if last else None)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {"stage": stage, "examples": len(examples), "steps": trainer.state.global_step,
            "train_loss": float(result.training_loss), "first_loss": losses[0] if losses else None,
            "last_loss": losses[-1] if losses else None, "resumed_from": str(last) if last else None}


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _last_checkpoint(ckpt_dir: Path) -> Path | None:
    found = sorted(ckpt_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1])) if ckpt_dir.is_dir() else []
    return found[-1] if found else None


def steps_of(n_examples: int, config: GLPFTConfig, stage: str) -> int:
    """Optimizer steps a stage takes (HF Trainer's count: ceil per epoch, epochs rounded up)."""
    import math

    per_epoch = math.ceil(n_examples / config.batch_size / config.grad_accum)
    return math.ceil(per_epoch * config.stage(stage).epochs)


def run_glpft(trajectories: Sequence[Trajectory], config: GLPFTConfig, out_dir: str | Path,
              resume: bool = False, team: Team | None = None) -> tuple[Team, dict[str, Any]]:
    """Both GLPFT stages (or, with ``config.single``, the backbone alone). Returns the team and
    a summary; writes every finished stage to ``out_dir``."""
    import torch
    from transformers import set_seed

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state_file = out / "glpft_state.json"
    state: dict[str, Any] = {"config": _config_dict(config), "done": [], "stages": {}}
    if resume and state_file.is_file():
        state = json.loads(state_file.read_text())
    set_seed(config.seed)
    torch.manual_seed(config.seed)
    team = team or Team.from_config(config)
    data = role_datasets(trajectories, config.prompt)
    for stage in ("backbone",) if config.single else STAGES:
        if stage in state["done"]:
            team.load_role(stage, out / stage)
            continue
        if stage != "backbone":
            team.init_role(stage, "backbone")  # local stage: start from the global backbone
        state["stages"][stage] = train_stage(team, stage, data[stage], config, out, resume)
        team.save_role(stage, out / stage)
        state["done"].append(stage)
        state_file.write_text(json.dumps(state, indent=2))
    return team, state


def _config_dict(config: GLPFTConfig) -> dict[str, Any]:
    d = asdict(config)
    d["stages"] = {k: asdict(v) for k, v in config.stages.items()}
    return d
