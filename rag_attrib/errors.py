"""One exception hierarchy. Every message says what went wrong and what to do about it.

Every error rag_attrib raises on purpose derives from ``RagAttribError`` and is defined here, so that a caller
catches one base class and a reader finds every failure a user can meet in one file. Errors about what the
user passed also derive from ``ValueError`` (or ``TypeError``), as Python code expects.
"""

from __future__ import annotations


class RagAttribError(Exception):
    """Base class of every error rag_attrib raises on purpose."""


# ------------------------------------------------------------------------------------- what the user passed


class InvalidInputError(RagAttribError, ValueError):
    """An argument cannot be used as given (an empty question, an unknown target, min_share outside [0, 1])."""


class InvalidTypeError(InvalidInputError, TypeError):
    """An argument has the wrong type (an answer that is not a string, a slow tokenizer)."""


class EmptyAnswerError(InvalidInputError):
    """The answer to attribute is empty, only whitespace, or only citation markers."""


class InvalidChunksError(InvalidInputError):
    """The chunks cannot be used as given (not a list, duplicate ids, empty text, wrong type)."""


class NoChunksError(InvalidChunksError):
    """No retrieved chunks were given, so there is nothing to cite."""


class ChunkNotFoundError(InvalidInputError):
    """A chunk's text does not occur in the context part of the prompt the model saw."""


class AmbiguousChunkError(ChunkNotFoundError):
    """A chunk's text occurs more than once in the prompt and nothing tells which occurrence is the passage."""


class ContextTooLongError(InvalidInputError):
    """Prompt and answer together do not fit the model's context window."""


# ------------------------------------------------------------------------------------------------- models


class UnsupportedModelError(RagAttribError, TypeError):
    """The model's architecture has no AttnLRP rules registered (or another library patched it already)."""


class ModelNotFoundError(RagAttribError, FileNotFoundError):
    """The requested model (or the default one) is not installed or cached."""


class NonFiniteError(RagAttribError, FloatingPointError):
    """A number is NaN or infinite where it must be finite: the model's logits, log-probabilities or relevance
    (a float16/bfloat16 overflow, broken weights), or a value bound for JSON, which has no NaN or infinity."""


# -------------------------------------------------------------------------------------------- files and runs


class ResultFormatError(RagAttribError, ValueError):
    """A serialized AttributionResult cannot be read back."""


class RecordError(InvalidInputError):
    """An input line of a verify run is not a usable record (final: rerunning does not fix it)."""


class ChunkFileError(InvalidInputError):
    """The chunks file is missing, unreadable, or holds no usable chunks."""


class CliInputError(InvalidInputError):
    """A command-line input (answer file, prompt file, output path) cannot be used."""


class OutputError(RagAttribError, RuntimeError):
    """A verify run will not write to its output as it is: the input itself, a file it did not write, results
    of another input, in use by another run, or not writable (the message says which, and what to do)."""


class RayEngineError(RagAttribError, RuntimeError):
    """The Ray engine cannot run (Ray missing, bad options, OUT_DIR in use or unusable)."""


class EvalDataError(InvalidInputError):
    """An evaluation data file is missing or a record in it is malformed (the message names the line)."""


class ResponseNotAttributableError(RagAttribError):
    """An integration's response cannot be attributed as it is (streamed, or no LLM call of it was seen)."""


# ------------------------------------------------------------------------------- the HTTP service (serve)


class RequestError(InvalidInputError):
    """An HTTP request ``rag-attrib serve`` will not take as sent: not JSON, not authorized, over one of its limits
    (``status``: the HTTP status it answers with)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class ServiceUnavailableError(RagAttribError, RuntimeError):
    """``rag-attrib serve`` cannot take a request now: its queue is full (429), the model is loading or failed to
    load, or the server is shutting down (503). Retry after ``retry_after`` seconds."""

    def __init__(self, message: str, status: int = 503, retry_after: int = 1) -> None:
        super().__init__(message)
        self.status, self.retry_after = status, retry_after
