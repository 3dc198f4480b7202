"""rag_attrib: which retrieved chunk did each answer sentence come from? Sentence-level AttnLRP for RAG."""

from .attribute import Attributor
from .errors import (
    ChunkNotFoundError,
    ContextTooLongError,
    EmptyAnswerError,
    ModelNotFoundError,
    NoChunksError,
    RagAttribError,
    UnsupportedModelError,
)
from .lrp import attnlrp
from .model import load_model
from .types import AttributionResult, Chunk, Citation, SentenceAttribution, Span

__version__ = "0.1.0"

__all__ = [
    "AttributionResult",
    "Attributor",
    "ChunkNotFoundError",
    "Chunk",
    "Citation",
    "ContextTooLongError",
    "EmptyAnswerError",
    "ModelNotFoundError",
    "NoChunksError",
    "RagAttribError",
    "SentenceAttribution",
    "Span",
    "UnsupportedModelError",
    "attnlrp",
    "load_model",
]
