"""One frozen backbone per process, wrapped for a method, shared by every virtual client.

Virtual clients of the in-process engine differ only in their trainable parameters, so they share a
single :class:`ModelBundle`: a client loads the global trainable state, trains, and sends its
trainable state back. Memory therefore stays one backbone, whatever the number of clients.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict

import torch

from fedlib.methods import apply_method, load_trainable_state, parameter_group, trainable_state
from fedlib.runtime import Runtime, prepare_model

_CACHE_SIZE = 2  # bundles kept alive per process (one me5s-q4 bundle is ~0.5 GB)
_BUNDLES: OrderedDict[tuple, ModelBundle] = OrderedDict()


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Everything that decides the architecture of a bundle (not its initial values)."""

    backbone: str
    method: str
    num_labels: int
    num_virtual_tokens: int = 20
    lora_rank: int = 8
    precision: str = "fp32"  # resolved: "fp32" or "bf16" (fedlib.runtime)
    device: str = "cpu"  # resolved: "cpu" or "cuda:N"

    @property
    def runtime(self) -> Runtime:
        return Runtime(device=self.device, precision=self.precision)


def model_spec(cfg, num_labels: int) -> ModelSpec:
    """The bundle a resolved :class:`~fedlib.experiment.ExperimentConfig` trains."""
    return ModelSpec(cfg.backbone, cfg.method, num_labels, cfg.num_virtual_tokens, cfg.lora_rank,
                     precision=cfg.precision or "fp32", device=cfg.device or "cpu")


def num_labels_of(cfg) -> int:
    from fedlib.data import get_task

    return len(get_task(cfg.task).label_names)


class ModelBundle:
    """A method-wrapped model, its tokenizer, and seeded initial trainable states."""

    def __init__(self, spec: ModelSpec):
        from fedlib.backbone import load_backbone

        self.spec = spec
        with torch.random.fork_rng():
            torch.manual_seed(0)  # construction randomness is overwritten by initial_state(seed)
            model, self.tokenizer = load_backbone(spec.backbone, num_labels=spec.num_labels)
            self.model = apply_method(
                model, spec.method, num_virtual_tokens=spec.num_virtual_tokens, lora_rank=spec.lora_rank
            )
        self.runtime = spec.runtime
        prepare_model(self.model, self.runtime)
        # Pretrained values of trainable backbone weights (method "full"), restored for every new run;
        # kept on the CPU, where initial_state draws new values with a CPU generator.
        self._pristine = OrderedDict((k, v.cpu()) for k, v in trainable_state(self.model).items())

    def initial_state(self, seed: int) -> OrderedDict[str, torch.Tensor]:
        """The trainable parameters every run with ``seed`` starts from (same seed, same values).

        New parameters are drawn afresh from ``seed``: the head and LoRA's A with PyTorch's default
        initialisation, LoRA's B as zeros (so the adapted model starts as the backbone), and prompt
        vectors as copies of randomly chosen vocabulary embeddings (Lester et al., 2021), which trains
        far better than N(0, 1) noise. Pretrained weights keep their pretrained values.
        """
        state = OrderedDict((k, v.clone()) for k, v in self._pristine.items())
        generator = torch.Generator().manual_seed(seed)
        modules = dict(self.model.named_modules())
        for name, value in state.items():
            group = parameter_group(name)
            if group == "backbone":
                continue
            if "lora_B" in name:
                value.zero_()
            elif name.endswith("embedding.weight") and group == "prompt":
                vocab = self._word_embeddings()
                rows = torch.randint(5, vocab.shape[0] - 100, (value.shape[0],), generator=generator)
                value.copy_(vocab[rows.to(vocab.device)].to("cpu", value.dtype))
            elif value.dim() >= 2:
                torch.nn.init.kaiming_uniform_(value, a=5**0.5, generator=generator)
            else:
                fan_in = _fan_in(modules, name)
                bound = 1 / fan_in**0.5 if fan_in else 0.0
                torch.nn.init.uniform_(value, -bound, bound, generator=generator)
        return state

    def reset(self, seed: int) -> None:
        load_trainable_state(self.model, self.initial_state(seed))

    def _word_embeddings(self) -> torch.Tensor:
        return self.model.get_input_embeddings().weight.detach()


def _fan_in(modules: dict[str, torch.nn.Module], param_name: str) -> int:
    """Fan-in of the layer owning a bias, for PyTorch's default bias initialisation."""
    owner = modules.get(param_name.rsplit(".", 1)[0])
    weight = getattr(owner, "weight", None)
    return int(weight.shape[1]) if weight is not None and weight.dim() == 2 else 0


def get_bundle(spec: ModelSpec) -> ModelBundle:
    """The process-wide bundle for ``spec``, built on first use."""
    if spec in _BUNDLES:
        _BUNDLES.move_to_end(spec)
        return _BUNDLES[spec]
    bundle = ModelBundle(spec)
    _BUNDLES[spec] = bundle
    while len(_BUNDLES) > _CACHE_SIZE:
        _BUNDLES.popitem(last=False)
    return bundle


def clear_bundles() -> None:
    _BUNDLES.clear()
