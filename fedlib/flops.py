"""Floating-point operations of an encoder step, from the model's shapes and the tokens it processes.

The floor a training step cannot beat is its matrix-product FLOPs at the machine's peak rate; the
throughput benchmark reports measured time against it. Per sequence of ``L`` tokens (virtual prompt
tokens included) and per layer, with hidden size ``H`` and feed-forward size ``I``:

* projections and feed-forward: ``2 L (4 H^2 + 2 H I)`` (query, key, value, output; two FFN layers);
* attention: ``4 L^2 H`` (scores and the weighted sum of values);
* classifier head (``<s>`` token only): ``2 (H^2 + H C)``.

A backward pass computes gradients for the inputs of every product and, for trainable weights only,
for the weights too. So with a frozen backbone (prompt methods, LoRA) the projections cost one more
forward (input gradients), attention two more (both operands are activations), the trainable head
two more; full fine-tuning costs two more forwards everywhere. Element-wise work (GELU, LayerNorm,
softmax, dropout) is left out: it is small in FLOPs, which is why it shows up as time above the floor.
"""

from __future__ import annotations

from collections.abc import Iterable


def forward_flops(config, length: int, num_labels: int) -> dict[str, float]:
    """FLOPs of one forward pass over one sequence of ``length`` tokens, by kind of product."""
    hidden, inner, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    return {
        "projections": layers * 2.0 * length * (4 * hidden * hidden + 2 * hidden * inner),
        "attention": layers * 4.0 * length * length * hidden,
        "head": 2.0 * (hidden * hidden + hidden * num_labels),
    }


def step_flops(config, lengths: Iterable[int], num_labels: int, *, training: bool,
               frozen_backbone: bool = True) -> float:
    """FLOPs of evaluating (``training=False``) or training on sequences of the given lengths."""
    total = 0.0
    for length in lengths:
        f = forward_flops(config, int(length), num_labels)
        if not training:
            total += sum(f.values())
        elif frozen_backbone:
            total += 2 * f["projections"] + 3 * f["attention"] + 3 * f["head"]
        else:
            total += 3 * sum(f.values())
    return total
