"""Architecture families: one module per layout (llama, gemma, gpt2, moe), each registering its ``Family``.

The registry itself (``Family``, ``register``, ``family_for``) is in ``base``; importing this package
registers the built-in families.
"""

from . import gemma, gpt2, llama, moe  # noqa: F401  (registers the built-in families)
from .base import Family, family_for, register, supported_model_types, uncovered_modules

__all__ = ["Family", "family_for", "register", "supported_model_types", "uncovered_modules"]
