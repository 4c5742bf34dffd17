"""Supervised fine-tuning of a local causal LM with TRL's ``SFTTrainer`` (optionally LoRA).

The model (``model_path``) is a local model preset (``smollm2-135m``, the default), a GGUF file
or a model directory, resolved by :mod:`synthpipe.llm.local_models`; nothing is ever
downloaded. Records are either conversational (``messages_field``: a list of
``{"role", "content"}`` dicts, rendered with the tokenizer's chat template) or prompt/completion
pairs (``prompt_field`` / ``completion_field``; the loss covers only the completion, TRL's
default); ``chat_template: true`` renders string pairs as a user and an assistant turn, the
format an instruct model was tuned on. LoRA (Hu et al. 2021, https://arxiv.org/abs/2106.09685)
goes through ``peft``. With ``reuse_dir`` a fit is stored and loaded again, not retrained, when
the same rows, config and seed come back (e.g. one fit scored on two test sets).

Also home to what the HF trainers share (config base, model loading, greedy generation), which
:mod:`synthpipe.train.trainers.hf_dpo` reuses. Written against TRL 1.16 / transformers 5.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from synthpipe.errors import UsageError
from synthpipe.importing import require
from synthpipe.llm.local_models import DEFAULT_MODEL
from synthpipe.train.trainers import TrainerConfig, build_config, field_value
from synthpipe.train.trainers.fit_store import FitStore

#: optional modules the HF trainers import (see `synthpipe.importing`)
HF_REQUIRES = ("torch", "transformers", "trl", "peft")


class LoraSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    r: int = Field(8, ge=1, description="adapter rank")
    alpha: int = Field(16, ge=1, description="LoRA scaling numerator (scale = alpha / r)")
    dropout: float = Field(0.05, ge=0, lt=1, description="dropout on the adapter input")
    target_modules: list[str] | str = Field(
        "all-linear", description="module names to adapt, or 'all-linear' for every linear layer"
    )


class HFTrainConfig(TrainerConfig):
    """What every HF trainer takes: the local model, the optimiser schedule, the hardware."""

    model_path: str = Field(
        DEFAULT_MODEL,
        description="local model: a preset (smollm2-135m), a .gguf file or a model directory "
        "(never downloaded)",
    )
    output_dir: str | None = Field(
        None, description="trainer scratch dir; default: a temporary directory"
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto = cuda when available")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="mixed precision; auto = bf16 on GPUs that support it, else fp32"
    )
    max_steps: int = Field(100, ge=1, description="optimiser steps")
    learning_rate: float = Field(2e-5, gt=0, description="peak learning rate")
    lr_scheduler: str = Field(
        "linear", description="transformers scheduler name (linear, cosine, constant, ...)"
    )
    warmup_steps: int = Field(0, ge=0, description="linear warm-up steps")
    batch_size: int = Field(8, ge=1, description="examples per device per step")
    gradient_accumulation_steps: int = Field(
        1, ge=1, description="micro-batches per optimiser step"
    )
    max_length: int = Field(
        512, ge=8, description="tokens per training sequence (longer ones are truncated)"
    )
    gradient_checkpointing: bool = Field(
        False, description="trade compute for memory on large models"
    )
    lora: LoraSettings | None = Field(
        None, description="train a LoRA adapter instead of all weights"
    )
    logging_steps: int = Field(1, ge=1, description="log the loss every this many steps")
    max_new_tokens: int = Field(64, ge=1, description="generation length of `predict`")
    generation_batch_size: int = Field(
        16, ge=1, description="prompts per `generate` call in `predict`"
    )


class SFTConfig(HFTrainConfig):
    messages_field: str = Field(
        "messages", description="record field with a chat (list of role/content)"
    )
    prompt_field: str = Field(
        "prompt", description="record field with the prompt (when no messages)"
    )
    completion_field: str = Field(
        "completion", description="record field with the target completion"
    )
    format: Literal["auto", "messages", "prompt_completion"] = Field(
        "auto", description="auto = messages when the first record has `messages_field`"
    )
    assistant_only_loss: bool = Field(
        False, description="chats: loss on assistant turns only (template needs {% generation %})"
    )
    chat_template: bool = Field(
        False,
        description="string prompt/completion pairs become a user and an assistant turn of the "
        "chat template (instruct models); `predict` wraps prompts the same way",
    )
    reuse_dir: str | None = Field(
        None,
        description="store fits here and load one instead of training when the rows, config "
        "and seed were fitted before",
    )


@dataclass
class HFTrainedModel:
    """A fine-tuned causal LM. `chat` = prompts are wrapped as a user turn of the chat template."""

    model: Any
    tokenizer: Any
    chat: bool
    max_new_tokens: int = 64
    generation_batch_size: int = 16
    losses: list[float] = field(default_factory=list)
    margins: list[float] = field(default_factory=list)  # DPO: chosen - rejected reward per log
    log_history: list[dict] = field(default_factory=list)

    def predict(self, inputs: list[str]) -> list[str]:
        """Greedy generations (new text only, special tokens removed), in input order."""
        out: list[str] = []
        for start in range(0, len(inputs), self.generation_batch_size):
            out += self._generate(inputs[start : start + self.generation_batch_size])
        return out

    def _generate(self, prompts: list[str]) -> list[str]:
        import torch

        tok = self.tokenizer
        if self.chat:
            texts = [
                tok.apply_chat_template(
                    [{"role": "user", "content": p}], add_generation_prompt=True, tokenize=False
                )
                for p in prompts
            ]
        else:
            texts = list(prompts)
        side, tok.padding_side = tok.padding_side, "left"  # decoder-only: pad on the left
        try:  # chat templates carry their own special tokens; TRL tokenizes plain prompts with them
            enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=not self.chat)
        finally:
            tok.padding_side = side
        enc = enc.to(self.model.device)
        self.model.eval()
        with torch.no_grad():
            generated = self.model.generate(
                **enc,
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                pad_token_id=tok.pad_token_id,
            )
        return tok.batch_decode(generated[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)

    def save(self, path: str | Path) -> Path:
        """Model (or LoRA adapter) + tokenizer, loadable with `from_pretrained`."""
        path = Path(path)
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        return path


class HFSFTTrainer:
    name = "hf-sft"
    Config = SFTConfig
    requires = HF_REQUIRES

    def __init__(self, config: SFTConfig | dict[str, Any] | None = None, /, **overrides: Any):
        self.config = build_config(self.Config, self.name, config, overrides)

    def fit(self, train: list[dict], *, seed: int) -> HFTrainedModel:
        trl = require_trl()
        cfg = self.config
        rows, chat = sft_rows(train, cfg, self.name)
        store = None
        if cfg.reuse_dir:
            store = FitStore.open(cfg.reuse_dir, self.name, rows, reuse_key(cfg), seed)
        if store is not None and (meta := store.load()) is not None:
            return restore(store.path, meta, cfg, seed)
        with quiet_hf(), scratch_dir(cfg) as out:
            model, tokenizer = load_model(cfg, seed)
            args = trl.SFTConfig(
                **training_arguments(cfg, seed, out), assistant_only_loss=cfg.assistant_only_loss
            )
            trainer = trl.SFTTrainer(
                model=model,
                args=args,
                train_dataset=to_dataset(rows),
                processing_class=tokenizer,
                peft_config=lora_config(cfg),
            )
            quiet(trainer).train()
        fitted = finish(trainer, tokenizer, cfg, chat)
        if store is not None:
            with quiet_hf():
                store.save(fitted.save, {"chat": chat, "lora": cfg.lora is not None,
                                         "log_history": fitted.log_history})  # fmt: skip
        return fitted


#: settings that do not change what is trained
NOT_TRAINING = {"output_dir", "reuse_dir", "logging_steps", "max_new_tokens", "generation_batch_size"}  # fmt: skip


def reuse_key(cfg: SFTConfig) -> dict[str, Any]:
    """What decides a fit: the config without generation and bookkeeping settings, and the
    model files' identity (a rebuilt model at the same path is a different model)."""
    from synthpipe.llm.local_models import resolve_local_model

    local = resolve_local_model(cfg.model_path)
    if local.gguf_file:
        files = [local.directory / local.gguf_file]
    else:
        weights = (".json", ".safetensors", ".bin")
        files = sorted(p for p in local.directory.iterdir() if p.suffix in weights)
    stats = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return {"config": cfg.model_dump(mode="json", exclude=NOT_TRAINING), "model_files": stats}


def restore(path: Path, meta: dict[str, Any], cfg: SFTConfig, seed: int) -> HFTrainedModel:
    """A stored fit: the base model plus the saved adapter, or the saved full model."""
    from synthpipe.llm.local_models import load_causal_lm

    with quiet_hf():
        if meta["lora"]:
            from peft import PeftModel

            base, tokenizer = load_model(cfg, seed)
            model = PeftModel.from_pretrained(base, str(path))
        else:
            model, tokenizer = load_causal_lm(str(path), dtype="float32")
    history = meta["log_history"]
    return HFTrainedModel(
        model=model,
        tokenizer=tokenizer,
        chat=meta["chat"],
        max_new_tokens=cfg.max_new_tokens,
        generation_batch_size=cfg.generation_batch_size,
        losses=[float(e["loss"]) for e in history if "loss" in e],
        log_history=history,
    )


def sft_rows(train: list[dict], cfg: SFTConfig, trainer: str) -> tuple[list[dict], bool]:
    """TRL-shaped rows ({"messages"} or {"prompt", "completion"}) and whether they are chats."""
    if not train:
        raise UsageError(f"{trainer}: no training records")
    fmt = cfg.format
    if fmt == "auto":
        fmt = "messages" if cfg.messages_field in train[0] else "prompt_completion"
    if fmt == "messages":
        rows = [{"messages": field_value(r, cfg.messages_field, i, trainer, "messages_field")}
                for i, r in enumerate(train)]  # fmt: skip
        for i, row in enumerate(rows):
            _check_messages(row["messages"], i, trainer)
        return rows, True
    rows = [
        {
            "prompt": field_value(r, cfg.prompt_field, i, trainer, "prompt_field"),
            "completion": field_value(r, cfg.completion_field, i, trainer, "completion_field"),
        }
        for i, r in enumerate(train)
    ]
    if cfg.chat_template:  # TRL renders chat-shaped pairs and keeps the loss on the completion
        rows = [{"prompt": _turn("user", r["prompt"]), "completion": _turn("assistant", r["completion"])}
                for r in rows]  # fmt: skip
    return rows, isinstance(rows[0]["prompt"], list)  # TRL also takes chat-shaped prompt/completion


def _turn(role: str, content: Any) -> Any:
    return [{"role": role, "content": content}] if isinstance(content, str) else content


def _check_messages(messages: Any, index: int, trainer: str) -> None:
    ok = (
        isinstance(messages, list)
        and messages
        and all(isinstance(m, dict) and "role" in m and "content" in m for m in messages)
    )
    if not ok:
        raise UsageError(
            f"{trainer}: record {index}: messages must be a non-empty list of "
            f"{{'role': ..., 'content': ...}} dicts, got {str(messages)[:80]!r}"
        )


# -- shared by the HF trainers ---------------------------------------------------------------


def require_trl():
    """The `trl` module, once every module the HF trainers need is known to be installed."""
    require(*HF_REQUIRES, why="the HF trainers")
    import trl

    return trl


def resolve_device(cfg: HFTrainConfig) -> str:
    import torch

    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise UsageError(
            "device: 'cuda' was requested but torch sees no GPU; use device: auto or cpu"
        )
    return "cuda" if cfg.device != "cpu" and torch.cuda.is_available() else "cpu"


def load_model(cfg: HFTrainConfig, seed: int):
    """The model and tokenizer of `cfg.model_path` (preset, GGUF or directory) in float32."""
    import torch

    from synthpipe.llm.local_models import load_causal_lm

    torch.manual_seed(seed)  # LoRA/head initialisation
    try:
        model, tokenizer = load_causal_lm(cfg.model_path, dtype="float32")
    except UsageError as exc:
        raise UsageError(f"model_path: {exc}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def lora_config(cfg: HFTrainConfig):
    if cfg.lora is None:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=cfg.lora.target_modules,
        task_type="CAUSAL_LM",
    )


def training_arguments(cfg: HFTrainConfig, seed: int, output_dir: str) -> dict[str, Any]:
    """Keyword arguments common to TRL's SFTConfig and DPOConfig."""
    import torch

    device = resolve_device(cfg)
    precision = cfg.precision
    if precision == "auto":
        precision = "bf16" if device == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    if device == "cpu" and precision == "fp16":
        raise UsageError("precision: fp16 needs a GPU; use fp32 or bf16 on CPU")
    return {
        "output_dir": output_dir,
        "max_steps": cfg.max_steps,
        "learning_rate": cfg.learning_rate,
        "lr_scheduler_type": cfg.lr_scheduler,
        "warmup_steps": cfg.warmup_steps,
        "per_device_train_batch_size": cfg.batch_size,
        "gradient_accumulation_steps": cfg.gradient_accumulation_steps,
        "max_length": cfg.max_length,
        "gradient_checkpointing": cfg.gradient_checkpointing,
        "logging_steps": cfg.logging_steps,
        "seed": seed,
        "data_seed": seed,
        "use_cpu": device == "cpu",
        "bf16": precision == "bf16",  # TRL defaults bf16 to True: always say it explicitly
        "fp16": precision == "fp16",
        "save_strategy": "no",  # the caller saves the returned model if it wants it
        "report_to": "none",
        "disable_tqdm": True,
    }


@contextmanager
def quiet_hf() -> Iterator[None]:
    """Silence dataset-map and weight-loading bars (noise in runs that fit many variants) and
    transformers 5's deprecation of the `gradient_checkpointing` name, which TRL always passes."""
    import datasets.utils.logging as datasets_log
    import transformers.utils.logging as transformers_log

    was_on = [(m, m.is_progress_bar_enabled()) for m in (datasets_log, transformers_log)]
    for module, _ in was_on:
        module.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", ".*gradient_checkpointing.* is deprecated", FutureWarning
            )
            yield
    finally:
        for module, on in was_on:
            if on:
                module.enable_progress_bar()


@contextmanager
def scratch_dir(cfg: HFTrainConfig) -> Iterator[str]:
    """`cfg.output_dir`, or a temporary directory removed after training."""
    if cfg.output_dir:
        Path(cfg.output_dir).mkdir(parents=True, exist_ok=True)
        yield cfg.output_dir
    else:
        with tempfile.TemporaryDirectory(prefix="synthpipe-train-") as tmp:
            yield tmp


def to_dataset(rows: list[dict]):
    from datasets import Dataset

    try:
        return Dataset.from_list(rows)
    except Exception as exc:  # pyarrow: a field with mixed types across records
        raise UsageError(
            f"training records do not share one shape ({type(exc).__name__}: {exc})"
        ) from None


def quiet(trainer: Any) -> Any:
    """No per-step log prints (`disable_tqdm` swaps the progress bar for a printer)."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    return trainer


def finish(trainer: Any, tokenizer: Any, cfg: HFTrainConfig, chat: bool) -> HFTrainedModel:
    history = list(trainer.state.log_history)
    model = trainer.model
    model.config.use_cache = True  # gradient checkpointing turns the KV cache off
    return HFTrainedModel(
        model=model,
        tokenizer=tokenizer,
        chat=chat,
        max_new_tokens=cfg.max_new_tokens,
        generation_batch_size=cfg.generation_batch_size,
        losses=[float(e["loss"]) for e in history if "loss" in e],
        log_history=history,
    )
