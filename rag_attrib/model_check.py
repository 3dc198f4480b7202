"""``rag-attrib check-model``: can this model be attributed correctly? Check it on a fixed prompt.

Checks, in order: the architecture has rules; every submodule is covered by a rule or known to be plain;
the patched forward pass equals the original; the model is restored on exit; relevance agrees between
the eager and SDPA attention kernels; and relevance flows down the layers without jumps (the ratio of
the relevance at each decoder layer's input to the target).
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field

import torch
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer

from .errors import UnsupportedModelError
from .lrp import attention_kernel, attnlrp, family_for, is_patched
from .lrp.arch import uncovered_modules
from .lrp.patch import patched_modules
from .lrp.relevance import forward_targets, sentence_relevance
from .prompt import encode, render_rag_prompt
from .types import Chunk

CHUNKS = (
    Chunk("1", "The Quenby lighthouse was built in 1872 by the engineer Harald Voss."),
    Chunk("2", "Quenby's bakery, run by Mira Tollan, sells a honey bread called tollencake."),
)
QUESTION = "Who built the Quenby lighthouse?"
ANSWER = "The lighthouse was built by Harald Voss in 1872."

FORWARD_TOLERANCE = 1e-4  # relative; 0 for every dense family, rounding for MoE with a grouped kernel
KERNEL_TOLERANCE = 1e-2  # relative max difference of eager and SDPA relevance (float32 softmax rounding)
LAYER_JUMP = 4.0  # relevance may change from one layer to the next by at most this factor


@dataclass
class CheckReport:
    model: str
    model_type: str
    family: str | None = None
    rules: list[tuple[str, int, str]] = field(default_factory=list)  # (module class, count, rule)
    uncovered: list[str] = field(default_factory=list)
    forward_difference: float | None = None
    restored: bool | None = None
    kernel_difference: float | None = None
    layer_ratios: list[float] = field(default_factory=list)  # relevance at each layer input / target
    input_ratio: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_model(model: nn.Module, tokenizer, name: str | None = None) -> CheckReport:
    report = CheckReport(model=name or str(getattr(model, "name_or_path", "") or type(model).__name__),
                         model_type=str(getattr(model.config, "model_type", None)))
    try:
        family = family_for(model)
    except UnsupportedModelError as err:
        report.problems.append(str(err))
        return report
    report.family = family.name
    counts = Counter((type(m).__name__, rule) for _, m, rule in patched_modules(model, family))
    report.rules = [(cls, n, rule) for (cls, rule), n in sorted(counts.items())]
    report.uncovered = uncovered_modules(model, family)
    if report.uncovered:
        report.problems.append(f"{len(report.uncovered)} submodules have no rule and are not known to be plain: "
                               f"{', '.join(report.uncovered[:5])}; describe them in the family (Family.rules)")

    ids, answer_start = _inputs(tokenizer, model.device)
    spans = [(answer_start, ids.shape[0])]
    with torch.no_grad():
        before = model(ids[None], use_cache=False).logits
        with attnlrp(model):
            inside = model(ids[None], use_cache=False).logits
        after = model(ids[None], use_cache=False).logits
    report.forward_difference = ((inside - before).abs().max() / before.abs().max()).item()
    report.restored = bool(torch.equal(before, after)) and not is_patched(model)
    if report.forward_difference > FORWARD_TOLERANCE:
        report.problems.append(f"the patched forward pass differs from the original by "
                               f"{report.forward_difference:.2e} (relative): a rule changes the model's output")
    if not report.restored:
        report.problems.append("the model is not restored exactly after attnlrp() exits")

    report.layer_ratios, report.input_ratio = _layer_ratios(model, ids, answer_start)
    steps = [report.input_ratio, *report.layer_ratios]
    jumps = [b / a for a, b in itertools.pairwise(steps) if a != 0]
    if not all(1 / LAYER_JUMP <= j <= LAYER_JUMP for j in jumps) or report.input_ratio <= 0:
        report.problems.append("relevance jumps between layers (or vanishes): some operation has no rule")

    report.kernel_difference = _kernel_difference(model, ids, answer_start, spans)
    if report.kernel_difference is not None and report.kernel_difference > KERNEL_TOLERANCE:
        report.problems.append(f"eager and SDPA attention give relevance {report.kernel_difference:.2e} apart")
    return report


def _inputs(tokenizer, device) -> tuple[torch.Tensor, int]:
    encoded = encode(tokenizer, render_rag_prompt(tokenizer, QUESTION, CHUNKS), ANSWER)
    return encoded.input_ids.to(device), encoded.answer_start


def _layer_ratios(model: nn.Module, ids: torch.Tensor, answer_start: int) -> tuple[list[float], float]:
    """Relevance at each decoder layer's input (and at the embeddings) over the target.

    The first token is left out, as in the citation scores: it is the attention sink, where models with
    a BOS token (Gemma) park a large negative relevance in their first layers.
    """
    layers = [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]  # the decoder layers
    inputs: list[torch.Tensor] = []

    def keep_input(module, args, kwargs):
        hidden = args[0] if args else kwargs["hidden_states"]
        hidden.retain_grad()
        inputs.append(hidden)

    with attnlrp(model), torch.enable_grad():
        hooks = [layer.register_forward_pre_hook(keep_input, with_kwargs=True) for layer in layers]
        try:
            embeds, targets, _ = forward_targets(model, ids, answer_start, [(answer_start, ids.shape[0])], "token")
            target = targets[0]
            target.backward()
        finally:
            for hook in hooks:
                hook.remove()
        value = target.item()
        ratios = [((h.grad * h)[:, 1:].float().sum() / value).item() for h in inputs]
        return ratios, ((embeds.grad * embeds)[:, 1:].float().sum() / value).item()


def _kernel_difference(model: nn.Module, ids, answer_start, spans) -> float | None:
    other = "eager" if model.config._attn_implementation != "eager" else "sdpa"
    try:
        first, *_ = sentence_relevance(model, ids, answer_start, spans)
        with attention_kernel(model, other):
            second, *_ = sentence_relevance(model, ids, answer_start, spans)
    except (ValueError, KeyError, NotImplementedError):
        return None  # the model supports one kernel only
    return ((first - second).abs().max() / first.abs().max()).item()
