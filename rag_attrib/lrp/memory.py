"""The engine's memory policy: whether the backward passes keep the whole graph (``"fast"``) or one decoder
layer's at a time (``"low"``, ``rag_attrib.lrp.layer_by_layer``), and giving freed memory back to the system."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Literal

import torch
from transformers import PreTrainedModel

from ..errors import InvalidInputError
from ..types import MEMORY_CHOICES

Memory = Literal["auto", "fast", "low"] | int


def check_memory(memory: object) -> None:
    """Raise ``InvalidInputError`` unless ``memory`` is ``"auto"``, ``"fast"``, ``"low"`` or a positive int."""
    if isinstance(memory, str) and memory in MEMORY_CHOICES:
        return
    if isinstance(memory, int) and not isinstance(memory, bool) and memory > 0:
        return
    raise InvalidInputError(
        f"memory must be 'auto', 'fast', 'low' or a budget in bytes (a positive int, e.g. 4 * 2**30), got {memory!r}"
    )


def memory_plan(model: PreTrainedModel, seq_len: int, memory: Memory = "auto") -> Literal["fast", "low"]:
    """``"fast"`` or ``"low"`` for ``seq_len`` tokens on ``model``: ``"fast"`` when the whole graph's estimated
    activations (``activation_bytes``) fit the budget: ``memory`` bytes, or for ``"auto"`` half the free memory
    of the model's device (the backward passes need room beside the graph)."""
    check_memory(memory)
    if memory in ("fast", "low"):
        return memory
    budget = free_bytes(model.device) // 2 if memory == "auto" else memory
    return "fast" if activation_bytes(model.config, seq_len, model.dtype.itemsize) <= budget else "low"


def activation_bytes(config, seq_len: int, dtype_bytes: int = 4) -> int:
    """Estimated bytes the forward pass with graph keeps for the backward passes (``memory="fast"``), for a model
    of ``config`` on ``seq_len`` tokens in numbers of ``dtype_bytes`` bytes.

    Counted with ``torch.autograd.graph.saved_tensors_hooks`` on SmolLM2-135M under the rules (parameters
    need no gradient, so the linear maps save no input): per token and decoder layer, the MLP keeps three
    tensors of its intermediate width (the identity rule's ratio, the uniform rule's two halved factors),
    attention keeps q, k, v and its output (SDPA) and one log-sum-exp per head, and two more of the hidden
    width: ``3 * intermediate + 2 * hidden + 2 * (q + kv) + heads`` numbers (7,305 for SmolLM2: 29.2 kB in
    float32, 0.88 MB per token over its 30 layers). Resident memory grows faster than this count (the
    backward's temporaries, the allocator's fragmentation): 1.3 MB per token measured between 1k and 2k
    tokens (benchmarks/memory.md), which ``memory_plan``'s half of the free memory leaves room for.
    ``tests/test_memory.py`` checks the count on a tiny Llama.
    """
    hidden = config.hidden_size
    intermediate = getattr(config, "intermediate_size", None) or getattr(config, "n_inner", None) or 4 * hidden
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    kv = (getattr(config, "num_key_value_heads", None) or heads) * head_dim
    per_token_layer = 3 * intermediate + 2 * hidden + 2 * (heads * head_dim + kv) + heads
    return per_token_layer * dtype_bytes * seq_len * config.num_hidden_layers


def free_bytes(device: torch.device) -> int:
    """Free memory of ``device``: ``torch.cuda.mem_get_info`` on a GPU, else the available RAM."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        import psutil

        return psutil.virtual_memory().available
    except ImportError:
        with open("/proc/meminfo") as meminfo:
            fields = dict(line.split(":", 1) for line in meminfo)
        return int(fields["MemAvailable"].split()[0]) * 1024


def release_freed_memory(device: torch.device) -> None:
    """Give the pages of freed blocks back to the system (glibc's ``malloc_trim``), where ``device`` is the CPU.

    Each layer's graph and gradients are freed before the next layer allocates blocks of other sizes; glibc
    keeps freed blocks in its heap, where they fragment. Trimming once per layer costs a few ms and lowered the
    8k-token peak from 2.23 to 2.17 GiB (benchmarks/memory.md); most fragmentation happens inside a layer's
    backward, which only ``MALLOC_MMAP_THRESHOLD_`` (the user's choice) reaches.
    """
    if device.type == "cpu" and _libc() is not None:
        _libc().malloc_trim(0)


def return_freed_memory_at_once(threshold: int = 64 * 2**10) -> bool:
    """Make glibc map every block of ``threshold`` bytes or more on its own and unmap it when freed
    (``mallopt(M_MMAP_THRESHOLD)``). Returns False where that is unknown. An application's choice: the library
    never calls it in a caller's process, only in processes of its own (the CLI's and the Ray actors' under
    ``memory="low"``).

    By default glibc raises this threshold as large blocks are freed and then keeps freed blocks in its heap,
    where they fragment: ``memory="low"`` at 8k tokens peaked at 1.77 GiB with the default and 1.39 GiB with
    this (benchmarks/memory.md). It holds for the whole process and cannot be undone, hence the application's
    choice (``rag-attrib ... --memory low`` makes it; ``MALLOC_MMAP_THRESHOLD_=65536`` does the same from the
    environment).
    """
    libc = _libc()
    return libc is not None and hasattr(libc, "mallopt") and libc.mallopt(-3, threshold) == 1  # -3: M_MMAP_THRESHOLD


@functools.cache
def _libc():
    """glibc, or None where the C library has no ``malloc_trim`` (musl, macOS, Windows)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None
