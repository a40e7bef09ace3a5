"""Parameter-efficient tuning methods and the accounting of what each one trains and sends.

Methods (all on a frozen backbone except ``full``):

* ``prompt``  -- soft prompt tuning (Lester et al., 2021): ``num_virtual_tokens`` free vectors.
* ``ptuning`` -- the paper's *prompt encoder* (P-tuning, Liu et al., 2021): an MLP that produces the
  virtual tokens (PEFT ``PromptEncoderConfig``).
* ``lora``    -- low-rank adapters on the attention query/value projections (Hu et al., 2022).
* ``full``    -- full fine-tuning: every weight trains and travels.

The classifier head is new for every task, so it always trains. It is federated by default, like the
paper: it is part of what clients send and the server averages, and it is counted as such.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict

import torch
from peft import LoraConfig, PromptEncoderConfig, PromptTuningConfig, TaskType, get_peft_model

METHODS = ("prompt", "ptuning", "lora", "full")
PARAMETER_GROUPS = ("prompt", "lora", "head", "backbone")


def check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {list(METHODS)}")
    return method


def apply_method(
    model: torch.nn.Module,
    method: str,
    *,
    num_virtual_tokens: int = 20,
    lora_rank: int = 8,
    encoder_hidden_size: int | None = None,
) -> torch.nn.Module:
    """Wrap a sequence-classification ``model`` so that only ``method``'s parameters train."""
    check_method(method)
    if method == "full":
        for param in model.parameters():
            param.requires_grad_(True)
        return model
    if method == "prompt":
        config = PromptTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=num_virtual_tokens)
    elif method == "ptuning":
        config = PromptEncoderConfig(
            task_type=TaskType.SEQ_CLS,
            num_virtual_tokens=num_virtual_tokens,
            encoder_hidden_size=encoder_hidden_size or model.config.hidden_size,
            encoder_reparameterization_type="MLP",
        )
    else:
        config = LoraConfig(
            task_type=TaskType.SEQ_CLS, r=lora_rank, lora_alpha=2 * lora_rank,
            lora_dropout=0.1, target_modules=["query", "value"],
        )
    return get_peft_model(model, config)


def trainable_state(model: torch.nn.Module) -> OrderedDict[str, torch.Tensor]:
    """The trainable parameters themselves, by name: exactly what a client sends.

    Not ``peft.get_peft_model_state_dict``: for a prompt encoder that returns the *computed* prompt
    vectors, and loading those into another model does not reproduce the prompt.
    """
    return OrderedDict(
        (name, param.detach().clone()) for name, param in model.named_parameters() if param.requires_grad
    )


def load_trainable_state(model: torch.nn.Module, state: dict[str, torch.Tensor | object]) -> None:
    """Copy ``state`` into the model's trainable parameters; the key sets must match exactly."""
    params = {name: p for name, p in model.named_parameters() if p.requires_grad}
    missing, unexpected = params.keys() - state.keys(), state.keys() - params.keys()
    if missing or unexpected:
        raise KeyError(
            f"trainable state does not match the model: missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]} (was it produced with another method or backbone?)"
        )
    with torch.no_grad():
        for name, param in params.items():
            value = torch.as_tensor(state[name], dtype=param.dtype)
            if value.shape != param.shape:
                raise ValueError(f"{name}: shape {tuple(value.shape)} != model's {tuple(param.shape)}")
            param.copy_(value)


def parameter_group(name: str) -> str:
    """Which part of the model a parameter belongs to (see ``PARAMETER_GROUPS``)."""
    if "prompt_encoder" in name:
        return "prompt"
    if "lora_" in name:
        return "lora"
    if "classifier" in name:
        return "head"
    return "backbone"


@dataclasses.dataclass(frozen=True)
class ParameterCount:
    """Parameter accounting of one model + method."""

    total: int
    trainable: int
    communicated: int  # per client per direction per round
    trainable_by_group: dict[str, int]

    @property
    def trainable_fraction(self) -> float:
        return self.trainable / self.total

    @property
    def communication_saving(self) -> float:
        """Fraction of parameters *not* sent compared with sending the whole model."""
        return 1.0 - self.communicated / self.total


def count_parameters(model: torch.nn.Module) -> ParameterCount:
    """Count total / trainable / communicated parameters, split by group.

    Every trainable parameter is communicated (the head is federated), and nothing else is.
    Works on models on the ``meta`` device too, so the paper's backbone can be counted from its
    config alone.
    """
    by_group = {group: 0 for group in PARAMETER_GROUPS}
    total = trainable = 0
    for name, param in model.named_parameters():
        if "original_module" in name:  # PEFT's frozen copy of a head it replaced: not part of the model
            continue
        total += param.numel()
        if param.requires_grad:
            trainable += param.numel()
            by_group[parameter_group(name)] += param.numel()
    return ParameterCount(total=total, trainable=trainable, communicated=trainable,
                          trainable_by_group=by_group)
