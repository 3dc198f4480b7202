"""The registry of architecture families, keyed by ``config.model_type``.

A family says which submodule types get which rule. To support a new family, describe it with
``Family`` and call ``register(family)``; ``attnlrp`` then patches models of its model types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from ...errors import UnsupportedModelError

ModuleRule = Callable[..., object]
"""A replacement ``forward(self, *args, **kwargs)`` bound to one module instance while patched."""


@dataclass(frozen=True)
class Family:
    """One layout of decoder-only transformer and the rules its modules need.

    ``rules`` maps a class-name suffix (``"RMSNorm"`` matches ``LlamaRMSNorm`` and ``Qwen2RMSNorm``) to
    ``(rule name, replacement forward)``. Attention is patched for every family through transformers'
    ``AttentionInterface``, so it is not listed here. ``linear`` lists the class-name suffixes that need no
    rule because their plain gradient already is the LRP rule (linear maps, embeddings, containers).
    """

    name: str
    model_types: tuple[str, ...]
    rules: dict[str, tuple[str, ModuleRule]]
    linear: tuple[str, ...]

    def rule_for(self, module: nn.Module) -> tuple[str, ModuleRule] | None:
        cls = type(module).__name__
        for suffix, rule in self.rules.items():
            if cls.endswith(suffix):
                return rule
        return None


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


from . import llama  # noqa: E402,F401  (registers the built-in families)
