"""``Family`` and the registry of architecture families, keyed by ``config.model_type``.

A family says which submodule types get which rule. To support a new family, describe it with
``Family`` and call ``register(family)``; ``attnlrp`` then patches models of its model types, and
``rag-attrib check-model`` checks it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ...errors import UnsupportedModelError

ModuleRule = Callable[..., Any]
"""A replacement ``forward(self, *args, **kwargs)`` bound to one module instance while patched."""

Prepare = Callable[[nn.Module, Any], list[tuple[nn.Module, ModuleRule]]]
"""Called with the model and its patched config copy (which it may edit); returns extra forward patches."""


@dataclass(frozen=True)
class Family:
    """One layout of decoder-only transformer and the rules its modules need.

    - ``rules`` maps a class-name suffix (``"RMSNorm"`` matches ``LlamaRMSNorm`` and ``Qwen2RMSNorm``) to
      ``(rule name, replacement forward)``. Submodules of a patched module are covered by its rule.
    - ``plain`` lists the class-name suffixes whose plain gradient already is the LRP rule: linear maps,
      embeddings, containers, softmax routers, dropout (off). Attention modules are listed here because
      their rule is applied through transformers' ``AttentionInterface`` for every family.
    - ``eager_attention`` replaces the modeling file's eager kernel when the kernel itself needs a rule
      (Gemma 2's tanh soft-capping of the scores).
    - ``prepare`` handles what sits outside any submodule (Gemma 2's soft-capped logits).
    """

    name: str
    model_types: tuple[str, ...]
    rules: dict[str, tuple[str, ModuleRule]]
    plain: tuple[str, ...]
    eager_attention: Callable[..., Any] | None = None
    prepare: Prepare | None = None
    notes: str = field(default="", compare=False)

    def rule_for(self, module: nn.Module) -> tuple[str, ModuleRule] | None:
        cls = type(module).__name__
        for suffix, rule in self.rules.items():
            if cls.endswith(suffix):
                return rule
        return None

    def is_plain(self, module: nn.Module) -> bool:
        return type(module).__name__.endswith(self.plain)


_REGISTRY: dict[str, Family] = {}


def register(family: Family) -> Family:
    """Add (or replace) a family for each of its model types."""
    for model_type in family.model_types:
        _REGISTRY[model_type] = family
    return family


def supported_model_types() -> list[str]:
    return sorted(_REGISTRY)


def family_for(model: nn.Module) -> Family:
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", None)
    if model_type in _REGISTRY:
        return _REGISTRY[model_type]
    raise UnsupportedModelError(
        f"rag_attrib has no AttnLRP rules for model_type={model_type!r} ({type(model).__name__}). "
        f"Supported model types: {', '.join(supported_model_types())}. "
        "Use one of these, or describe the architecture with rag_attrib.lrp.arch.Family and register it "
        "with rag_attrib.lrp.arch.register()."
    )


def uncovered_modules(model: nn.Module, family: Family | None = None) -> list[str]:
    """Qualified names of submodules that no rule covers and that are not known to be plain.

    A module is covered by a rule of its own, by being plain, or by sitting inside a module whose
    forward a rule replaces (the rule then decides how its children's outputs combine).
    """
    family = family or family_for(model)
    uncovered: list[str] = []

    def walk(module: nn.Module, prefix: str) -> None:
        for name, child in module.named_children():
            qualified = f"{prefix}.{name}" if prefix else name
            if family.rule_for(child) is not None:
                continue
            if not family.is_plain(child):
                uncovered.append(f"{qualified} ({type(child).__name__})")
            walk(child, qualified)

    if family.rule_for(model) is None:
        walk(model, "")
    return uncovered

