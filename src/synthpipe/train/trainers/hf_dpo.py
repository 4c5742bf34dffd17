"""Direct Preference Optimization of a local causal LM with TRL's ``DPOTrainer``.

DPO (Rafailov et al. 2023, https://arxiv.org/abs/2305.18290) fits the policy to preference
pairs against a frozen reference. Records give ``prompt_field`` / ``chosen_field`` /
``rejected_field`` (strings, or chat-shaped message lists, which TRL renders with the chat
template). The reference is an explicit second copy of the base model loaded from the same
local directory; with ``lora`` it is implicit instead (the base with the adapter switched off),
which saves the memory of a second model. At the start the policy equals the reference, so
the sigmoid loss starts at ln 2 ~ 0.693 and the reward margin at 0.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from synthpipe.errors import UsageError
from synthpipe.train.trainers import build_config, field_value
from synthpipe.train.trainers.hf_sft import (
    HF_REQUIRES,
    HFTrainConfig,
    HFTrainedModel,
    finish,
    load_model,
    lora_config,
    quiet,
    quiet_hf,
    require_trl,
    scratch_dir,
    to_dataset,
    training_arguments,
)


class DPOConfig(HFTrainConfig):
    learning_rate: float = Field(1e-6, gt=0, description="peak learning rate (DPO wants it small)")
    prompt_field: str = Field("prompt", description="record field with the prompt")
    chosen_field: str = Field("chosen", description="record field with the preferred response")
    rejected_field: str = Field(
        "rejected", description="record field with the dispreferred response"
    )
    beta: float = Field(0.1, gt=0, description="strength of the pull towards the reference model")
    loss_type: Literal["sigmoid", "ipo", "hinge", "robust"] = Field(
        "sigmoid", description="preference loss (sigmoid = the DPO paper's)"
    )


class HFDPOTrainer:
    name = "hf-dpo"
    Config = DPOConfig
    requires = HF_REQUIRES

    def __init__(self, config: DPOConfig | dict[str, Any] | None = None, /, **overrides: Any):
        self.config = build_config(self.Config, self.name, config, overrides)

    def fit(self, train: list[dict], *, seed: int) -> HFTrainedModel:
        trl = require_trl()
        cfg = self.config
        rows = dpo_rows(train, cfg, self.name)
        with quiet_hf(), scratch_dir(cfg) as out:
            model, tokenizer = load_model(cfg, seed)
            # Without LoRA the reference is a frozen copy; TRL would otherwise reload it by name.
            reference = None if cfg.lora else load_model(cfg, seed)[0]
            args = trl.DPOConfig(
                **training_arguments(cfg, seed, out), beta=cfg.beta, loss_type=[cfg.loss_type]
            )
            trainer = trl.DPOTrainer(
                model=model,
                ref_model=reference,
                args=args,
                train_dataset=to_dataset(rows),
                processing_class=tokenizer,
                peft_config=lora_config(cfg),
            )
            quiet(trainer).train()
        result = finish(trainer, tokenizer, cfg, chat=isinstance(rows[0]["prompt"], list))
        result.margins = [
            float(e["rewards/margins"]) for e in result.log_history if "rewards/margins" in e
        ]
        return result


def dpo_rows(train: list[dict], cfg: DPOConfig, trainer: str) -> list[dict]:
    if not train:
        raise UsageError(f"{trainer}: no training records")
    keys = (("prompt", "prompt_field"), ("chosen", "chosen_field"), ("rejected", "rejected_field"))
    return [
        {name: field_value(r, getattr(cfg, key), i, trainer, key) for name, key in keys}
        for i, r in enumerate(train)
    ]
