"""One exception hierarchy. Every message says what went wrong and what to do about it."""

from __future__ import annotations


class RagAttribError(Exception):
    """Base class of every error rag_attrib raises on purpose."""


class EmptyAnswerError(RagAttribError, ValueError):
    """The answer to attribute is empty or only whitespace."""


class InvalidChunksError(RagAttribError, ValueError):
    """The chunks cannot be used as given (duplicate ids, empty text, wrong type)."""


class NoChunksError(InvalidChunksError):
    """No retrieved chunks were given, so there is nothing to cite."""


class ChunkNotFoundError(RagAttribError, ValueError):
    """A chunk's text does not occur in the prompt the model saw."""


class ContextTooLongError(RagAttribError, ValueError):
    """Prompt and answer together do not fit the model's context window."""


class UnsupportedModelError(RagAttribError, TypeError):
    """The model's architecture has no AttnLRP rules registered."""


class ModelNotFoundError(RagAttribError, FileNotFoundError):
    """The requested model (or the embedded default) is not installed or cached."""


class ResultFormatError(RagAttribError, ValueError):
    """A serialized AttributionResult cannot be read back."""
