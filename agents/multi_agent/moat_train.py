"""MOAT's two training stages on TRL: planner DPO and executor SFT, one adapter each.

Each stage loads the base model with *one* role's adapter as PEFT's trainable ``default``
adapter, trains it with a TRL trainer and saves that adapter to a new folder. The other
role's adapter is never loaded, so a stage cannot change it (a test checks the files).

* :func:`train_dpo`: ``DPOTrainer`` on (prompt, chosen, rejected) texts. With a PEFT model and
  no ``ref_model``, TRL copies the adapter into a frozen ``ref`` adapter before training, so the
  reference is the planner *before this stage*, as in MOAT.
* :func:`train_sft`: ``SFTTrainer`` on pre-tokenized dialogues with an ``assistant_masks``
  column (from :func:`~agents.multi_agent.moat_roles.encode_dialogue`): only assistant tokens
  are trained, whatever the chat template (ours has no ``{% generation %}`` markers).
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from agents.multi_agent.moat_roles import RoleConfig, load_base, load_tokenizer


@dataclass
class StageConfig:
    """Optimiser settings of one stage (the paper's values are the defaults)."""

    learning_rate: float
    epochs: float = 1.0
    batch_size: int = 4
    scheduler: str = "cosine"
    seed: int = 0


def _trainable(config: RoleConfig, adapter: str | Path) -> Any:
    from peft import PeftModel

    return PeftModel.from_pretrained(load_base(config), str(adapter), is_trainable=True)


def _common_args(stage: StageConfig, out: str) -> dict[str, Any]:
    return dict(output_dir=out, learning_rate=stage.learning_rate, num_train_epochs=stage.epochs,
                per_device_train_batch_size=stage.batch_size, lr_scheduler_type=stage.scheduler,
                seed=stage.seed, data_seed=stage.seed, save_strategy="no", report_to=[], logging_steps=1,
                disable_tqdm=True, use_cpu=True, dataloader_num_workers=0, warmup_steps=0,
                gradient_checkpointing=False)


def train_dpo(config: RoleConfig, adapter_in: str | Path, adapter_out: str | Path,
              pairs: Sequence[dict[str, str]], stage: StageConfig, beta: float = 0.2) -> dict[str, float]:
    """DPO of the adapter at ``adapter_in`` on text pairs ``{"prompt", "chosen", "rejected"}``;
    writes the trained adapter to ``adapter_out``. Returns the trainer's last logged metrics."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    if not pairs:
        raise ValueError("train_dpo needs at least one pair (no task had a loss gap >= the threshold)")
    model = _trainable(config, adapter_in)
    with tempfile.TemporaryDirectory(prefix="moat-dpo-") as tmp:
        args = DPOConfig(beta=beta, max_length=config.max_length, **_common_args(stage, tmp))
        trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(list(pairs)),
                             processing_class=load_tokenizer(config))
        result = trainer.train()
        trainer.model.save_pretrained(str(adapter_out), selected_adapters=["default"])
    logs = [h for h in trainer.state.log_history if "loss" in h]
    return {"train_loss": float(result.training_loss), "steps": float(trainer.state.global_step),
            **({"last_loss": float(logs[-1]["loss"])} if logs else {})}


def train_sft(config: RoleConfig, adapter_in: str | Path, adapter_out: str | Path,
              sequences: Sequence[tuple[list[int], list[int]]], stage: StageConfig) -> dict[str, float]:
    """SFT of the adapter at ``adapter_in`` on (ids, assistant mask) sequences; writes it to
    ``adapter_out``. Sequences longer than ``config.max_length`` are cut."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    if not sequences:
        raise ValueError("train_sft needs at least one sequence")
    n = config.max_length
    rows = {"input_ids": [ids[:n] for ids, _ in sequences], "assistant_masks": [m[:n] for _, m in sequences]}
    model = _trainable(config, adapter_in)
    with tempfile.TemporaryDirectory(prefix="moat-sft-") as tmp:
        args = SFTConfig(max_length=n, packing=False, **_common_args(stage, tmp))
        trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_dict(rows),
                             processing_class=load_tokenizer(config))
        result = trainer.train()
        trainer.model.save_pretrained(str(adapter_out))
    return {"train_loss": float(result.training_loss), "steps": float(trainer.state.global_step)}


def pretrain_base(config: RoleConfig, out: str | Path, sequences: Sequence[list[int]], stage: StageConfig) -> dict[str, float]:
    """Full-weight language-model training of the base on plain token sequences, saved (with
    the tokenizer) as a model folder that roles can sit on.

    Why: the tiny test model has random weights whose frozen embeddings (std 0.02) and norms
    keep its logits near uniform; LoRA adapters over it barely move the loss in minutes. A
    short warm-up stands in for the pretrained base a real run starts from. Every method of
    a comparison shares one warmed base, so none gets an advantage from it.
    """
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    n = config.max_length
    model = load_base(config)
    tok = load_tokenizer(config)
    with tempfile.TemporaryDirectory(prefix="moat-base-") as tmp:
        args = SFTConfig(max_length=n, packing=False, **_common_args(stage, tmp))
        trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_dict({"input_ids": [s[:n] for s in sequences]}),
                             processing_class=tok)
        result = trainer.train()
    Path(out).mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return {"train_loss": float(result.training_loss), "steps": float(trainer.state.global_step)}
