"""``attnlrp(model)``: patch ONE model instance with the AttnLRP rules, and restore it exactly on exit.

What changes while patched, and only on this instance:
- normalisation and MLP modules get a replacement ``forward`` set on the instance (the class is untouched);
- the instance gets its own copy of its config whose attention implementation is a wrapper registered
  with transformers' ``AttentionInterface``: it applies the attention rule to q, k, v and then calls the
  kernel the model was using (eager, SDPA, flash...), so any kernel works;
- parameters stop requiring gradients (attribution needs gradients at the input only) and dropout is off.

Everything else that touches a model's patch state lives here too: the per-model lock (``model_lock``), the
question "is anything of ours still on this instance?" (``is_patched``), and switching the attention kernel
for a while (``attention_kernel``).

The wrapper's name (``rag_attrib_lrp_<kernel>``) stays in transformers' global attention registry after first
use, on purpose: it is a new name that only a patched config copy selects, it replaces no entry, and it calls
whatever kernel is registered at call time, so leaving it costs nothing and registering once per process
avoids a race between threads that patch different models.
"""

from __future__ import annotations

import copy
import sys
import threading
import types
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from torch import nn
from transformers import AttentionInterface
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from ..errors import UnsupportedModelError
from .arch import Family, family_for
from .rules import scale_gradient

_LOCKS: weakref.WeakKeyDictionary[nn.Module, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def model_lock(model: nn.Module) -> threading.RLock:
    """One lock per model instance: while an attribution runs, the model is patched in place, so two
    attributions (or a generation) on the same model from different threads must take turns."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(model, threading.RLock())


PREFIX = "rag_attrib_lrp_"
_PATCHED_FLAG = "_rag_attrib_patched"
_EAGER_OVERRIDE = "_rag_attrib_eager_attention"  # set on the patched config copy only


def _kernel(module: nn.Module, name: str) -> Callable:
    if name == "eager":
        # A family may need a rule inside the kernel (Gemma 2's soft-capping); else each modeling file
        # defines its own eager attention: use the one of the module's family.
        override = getattr(module.config, _EAGER_OVERRIDE, None)
        return override or sys.modules[type(module).__module__].eager_attention_forward
    return ALL_ATTENTION_FUNCTIONS[name]


_REGISTERED: dict[str, Callable] = {}  # interface name -> the LRP wrapper we registered under it
_REGISTERING = threading.Lock()


def lrp_attention_name(kernel_name: str) -> str:
    """Register (once) the LRP wrapper around ``kernel_name`` and return its interface name.

    Registering adds a new name; it never replaces an existing entry of the global registries.
    """
    name = PREFIX + kernel_name
    with _REGISTERING:
        if name not in _REGISTERED:

            def lrp_attention(module, query, key, value, attention_mask, **kwargs):
                query = scale_gradient(query, 0.25)
                key = scale_gradient(key, 0.25)
                value = scale_gradient(value, 0.5)
                return _kernel(module, kernel_name)(module, query, key, value, attention_mask, **kwargs)

            AttentionInterface.register(name, lrp_attention)
            # Without a mask function under the same name the model would silently run with no causal mask.
            AttentionMaskInterface.register(name, ALL_MASK_ATTENTION_FUNCTIONS[kernel_name])
            _REGISTERED[name] = lrp_attention
    return name


def foreign_kernels(model: nn.Module) -> list[str]:
    """The attention kernels this model would run that another library has wrapped process-wide.

    A wrapper is a function outside transformers that holds a transformers kernel (in its closure or as
    ``__wrapped__``), as LXT's ``monkey_patch`` installs: our attention rule would compound with its rule
    (q and k gradients scaled by 1/64 instead of 1/4). A kernel someone wrote from scratch is not a wrapper.
    Our own registry entries (``rag_attrib_lrp_<kernel>``) count too once they are not the function we
    registered: a library that wraps every entry of the registry wraps ours as well.
    """
    kernel = model.config._attn_implementation or "eager"
    replaced = [f"the {name!r} attention kernel (replaced by {_qualified(ALL_ATTENTION_FUNCTIONS.get(name))})"
                for name, ours in _REGISTERED.items() if ALL_ATTENTION_FUNCTIONS.get(name) is not ours]
    candidates = {}
    if kernel != "eager" and kernel in ALL_ATTENTION_FUNCTIONS:
        candidates[f"the {kernel!r} attention kernel"] = ALL_ATTENTION_FUNCTIONS[kernel]
    for module in model.modules():
        fn = getattr(sys.modules.get(type(module).__module__), "eager_attention_forward", None)
        if fn is not None:
            candidates[f"{type(module).__module__}.eager_attention_forward"] = fn
    return replaced + [f"{where} (wrapped by {_qualified(fn)})" for where, fn in candidates.items()
                       if _wraps_transformers(fn)]


def _qualified(fn: Callable | None) -> str:
    if fn is None:
        return "nothing: it was removed"
    return f"{getattr(fn, '__module__', None)}.{getattr(fn, '__qualname__', None) or type(fn).__qualname__}"


def _wraps_transformers(fn: Callable) -> bool:
    module = getattr(fn, "__module__", "") or ""
    if module.startswith(("transformers.", "rag_attrib.")):
        return False
    inner = [getattr(fn, "__wrapped__", None)] + [c.cell_contents for c in (getattr(fn, "__closure__", None) or ())
                                                  if c.cell_contents is not None]
    return any(callable(f) and (getattr(f, "__module__", "") or "").startswith("transformers.") for f in inner)


@contextmanager
def attention_kernel(model: nn.Module, name: str) -> Iterator[nn.Module]:
    """Run ``model`` with the attention kernel ``name`` (e.g. ``"eager"``, which can return attention weights)
    and restore the kernel it had on exit; holds the model's lock meanwhile."""
    with model_lock(model):
        before = model.config._attn_implementation
        if before != name:
            model.set_attn_implementation(name)
        try:
            yield model
        finally:
            if before != name:
                model.set_attn_implementation(before)


def patched_modules(model: nn.Module, family: Family | None = None) -> list[tuple[str, nn.Module, str]]:
    """``(qualified name, module, rule name)`` for every submodule of ``model`` that ``family`` (default: the
    model's own) patches."""
    family = family or family_for(model)
    found = []
    for qualified_name, module in model.named_modules():
        rule = family.rule_for(module)
        if rule is not None:
            found.append((qualified_name, module, rule[0]))
    return found


@contextmanager
def attnlrp(model: nn.Module) -> Iterator[nn.Module]:
    """Patch ``model`` in place for AttnLRP; everything is restored on exit, also when the body raises.

Holds the model's lock (``model_lock``) meanwhile, so other threads never see the patched model.

    Raises ``UnsupportedModelError`` (naming the supported model types) for an unknown architecture.
    """
    family = family_for(model)
    foreign = foreign_kernels(model)
    if foreign:
        raise UnsupportedModelError(
            f"another library has wrapped {'; '.join(foreign)} for the whole process (LXT's monkey_patch does); "
            "rag_attrib's attention rule would compound with it and the relevance would be wrong. Attribute in a "
            "process where no other LRP library has patched transformers (restart the interpreter)"
        )
    lock = model_lock(model)
    lock.acquire()  # another thread's attribution or generation on this model waits until we restore it
    if getattr(model, _PATCHED_FLAG, False):
        lock.release()
        raise RuntimeError("attnlrp(model) is already active on this model; do not nest it")

    undo: list[Callable[[], None]] = [lock.release]
    try:
        setattr(model, _PATCHED_FLAG, True)
        undo.append(lambda: delattr(model, _PATCHED_FLAG))

        for module in model.modules():
            rule = family.rule_for(module)
            if rule is not None:
                undo.append(set_instance_forward(module, rule[1]))

        undo.append(_swap_config(model, family))
        if family.prepare is not None:
            for module, forward in family.prepare(model, model.config):
                undo.append(set_instance_forward(module, forward))

        grad_flags = [(p, p.requires_grad) for p in model.parameters()]
        for p, _ in grad_flags:
            p.requires_grad_(False)
        undo.append(lambda: [p.requires_grad_(flag) for p, flag in grad_flags])

        modes = [(m, m.training) for m in model.modules()]
        model.eval()
        # Gradient checkpointing only runs in training mode: keep it on for the layers that have it, while
        # everything inside them (dropout) stays in eval mode.
        for m in model.modules():
            if getattr(m, "gradient_checkpointing", False) is True and hasattr(m, "_gradient_checkpointing_func"):
                m.training = True
        undo.append(lambda: [setattr(m, "training", mode) for m, mode in modes])

        yield model
    finally:
        for step in reversed(undo):
            step()


def set_instance_forward(module: nn.Module, forward: Callable) -> Callable[[], None]:
    """Make ``module`` (this instance only, not its class) run ``forward(module, ...)``; returns the step that
    undoes it, putting back an instance-level forward that was there before."""
    previous = module.__dict__.get("forward")
    module.forward = types.MethodType(forward, module)

    def restore() -> None:
        if previous is None:
            del module.forward
        else:
            module.forward = previous

    return restore


def _has_our_forward(module: nn.Module) -> bool:
    forward = module.__dict__.get("forward")  # an instance-level forward; accelerate's hooks set one too
    return isinstance(forward, types.MethodType) and forward.__func__.__module__.startswith("rag_attrib.")


def _swap_config(model: nn.Module, family: Family) -> Callable[[], None]:
    """Give this instance its own config copy that selects the LRP attention wrapper.

    Configs can be shared between instances (two models built from one config object), so the
    attention implementation is never changed on the shared object.
    """
    config = model.config
    kernel = config._attn_implementation or "eager"
    if kernel.startswith(PREFIX):
        raise RuntimeError("this model's config already selects the rag_attrib LRP attention; do not nest attnlrp")
    patched = copy.copy(config)
    patched._attn_implementation_internal = lrp_attention_name(kernel)
    if family.eager_attention is not None:
        setattr(patched, _EAGER_OVERRIDE, family.eager_attention)
    holders = [m for m in model.modules() if getattr(m, "config", None) is config]
    for m in holders:
        m.config = patched

    def restore() -> None:
        for m in holders:
            m.config = config

    return restore


def is_patched(model: nn.Module) -> bool:
    """Is anything of ``attnlrp`` on the instance ``model``: the patch flag, an instance-level ``forward`` on any
    submodule, or a config that selects the LRP attention? False once ``attnlrp`` has exited."""
    return (
        bool(getattr(model, _PATCHED_FLAG, False))
        or any(_has_our_forward(m) for m in model.modules())
        or any(str(getattr(getattr(m, "config", None), "_attn_implementation", "")).startswith(PREFIX)
               for m in model.modules())
    )


__all__ = [
    "attention_kernel", "attnlrp", "foreign_kernels", "is_patched", "lrp_attention_name", "model_lock",
    "patched_modules", "set_instance_forward",
]
