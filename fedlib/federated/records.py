"""Conversions between torch state dicts and Flower records, and payload sizes."""

from __future__ import annotations

from collections import OrderedDict

import torch
from flwr.app import ArrayRecord, RecordDict


def state_to_arrays(state: OrderedDict[str, torch.Tensor]) -> ArrayRecord:
    return ArrayRecord(OrderedDict((k, v.detach().cpu()) for k, v in state.items()))


def arrays_to_state(arrays: ArrayRecord) -> OrderedDict[str, torch.Tensor]:
    return arrays.to_torch_state_dict()


def payload_bytes(content: RecordDict) -> int:
    """Bytes a message carries: every array, metric and config record, as Flower counts them."""
    records = [*content.array_records.values(), *content.metric_records.values(),
               *content.config_records.values()]
    return int(sum(record.count_bytes() for record in records))
