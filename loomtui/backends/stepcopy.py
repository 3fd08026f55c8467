"""A decode step's numbers off the device in one copy.

On a GPU every ``.tolist()``, ``.item()`` or ``.cpu()`` makes the host wait for the device.
The local decode loop needs five things per step on the host (the chosen ids, their raw
logprobs, their sampled logprobs, the entropies, the top-k lists); read one by one that was
five waits a step. :func:`step_numbers` packs them side by side as int32 columns (float32
values by their bits, so nothing is rounded: the host reads the very float32 numbers the
device computed) and copies them once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..core.tokens import PackedTop, packed_tops


def step_numbers(
    table: Sequence[Any],
    chosen: torch.Tensor,
    chosen_lp: torch.Tensor,
    drawn_lp: torch.Tensor | None,
    entropy: torch.Tensor,
    top_v: torch.Tensor,
    top_i: torch.Tensor,
) -> tuple[list[int], list[float], list[float | None], list[float], list[PackedTop]]:
    """One step's ``(ids, logprobs, sampled logprobs, entropies, top-k lists)`` per row,
    brought to the host in one copy (``drawn_lp`` None: greedy, no sampled logprob)."""
    n, k = top_i.shape
    floats = [chosen_lp, chosen_lp if drawn_lp is None else drawn_lp, entropy]
    packed = torch.cat(
        (
            chosen.to(torch.int32)[:, None],
            torch.stack([f.to(torch.float32) for f in floats], 1).view(torch.int32),
            top_v.to(torch.float32).view(torch.int32),
            top_i.to(torch.int32),
        ),
        1,
    )
    host = packed.cpu().numpy()  # the step's one wait for the device
    values = host[:, 1 : 4 + k].view(np.float32)
    s_lp: list[float | None] = [None] * n if drawn_lp is None else values[:, 1].tolist()
    tops = packed_tops(table, host[:, 4 + k :], values[:, 3:])
    return host[:, 0].tolist(), values[:, 0].tolist(), s_lp, values[:, 2].tolist(), tops
