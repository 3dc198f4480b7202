"""AttnLRP for Hugging Face causal LMs: rules, per-instance patching, architecture registry."""

from .arch import Family, family_for, register, supported_model_types
from .patch import attnlrp, is_patched, patched_modules

__all__ = ["Family", "attnlrp", "family_for", "is_patched", "patched_modules", "register", "supported_model_types"]
