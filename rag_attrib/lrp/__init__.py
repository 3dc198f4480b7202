"""AttnLRP for Hugging Face causal LMs: rules, per-instance patching, architecture registry."""

import transformers

if int(transformers.__version__.split(".")[0]) < 5:
    raise ImportError(
        f"rag_attrib needs transformers 5.x (found {transformers.__version__}): its attention rules go through "
        "transformers 5's AttentionInterface. Upgrade with: pip install 'transformers>=5,<6'"
    )

from .arch import Family, family_for, register, supported_model_types
from .patch import attention_kernel, attnlrp, is_patched, model_lock, patched_modules

__all__ = [
    "Family", "attention_kernel", "attnlrp", "family_for", "is_patched", "model_lock", "patched_modules", "register",
    "supported_model_types",
]
