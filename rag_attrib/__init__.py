"""rag_attrib: which retrieved chunk did each answer sentence come from? Sentence-level AttnLRP for RAG.

Names are imported on first use, so ``import rag_attrib`` (and ``rag-attrib --help``) does not load torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Attributor": "attribute",
    "attnlrp": "lrp",
    "load_model": "model",
    "AttributionResult": "types",
    "Chunk": "types",
    "Citation": "types",
    "SentenceAttribution": "types",
    "Span": "types",
    "ChunkNotFoundError": "errors",
    "ContextTooLongError": "errors",
    "EmptyAnswerError": "errors",
    "InvalidChunksError": "errors",
    "InvalidInputError": "errors",
    "ModelNotFoundError": "errors",
    "NoChunksError": "errors",
    "RagAttribError": "errors",
    "UnsupportedModelError": "errors",
    "Verification": "verification",
    "summarize": "verification",
    "verify": "verification",
}
__all__ = [
    "AttributionResult", "Attributor", "Chunk", "ChunkNotFoundError", "Citation", "ContextTooLongError",
    "EmptyAnswerError", "InvalidChunksError", "InvalidInputError", "ModelNotFoundError", "NoChunksError", "RagAttribError",
    "SentenceAttribution", "Span", "UnsupportedModelError", "Verification", "attnlrp", "load_model", "summarize",
    "verify",
]
assert sorted(__all__) == sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rag_attrib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from .attribute import Attributor
    from .errors import (
        ChunkNotFoundError,
        ContextTooLongError,
        EmptyAnswerError,
        InvalidChunksError,
        InvalidInputError,
        ModelNotFoundError,
        NoChunksError,
        RagAttribError,
        UnsupportedModelError,
    )
    from .lrp import attnlrp
    from .model import load_model
    from .types import AttributionResult, Chunk, Citation, SentenceAttribution, Span
    from .verification import Verification, summarize, verify
