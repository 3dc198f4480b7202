"""The peer ContextCite (Cohen-Wang et al., 2024; PyPI ``context-cite``), run on the same prompt and answer.

Optional: ``pip install context-cite`` (it pulls datasets, spacy, scikit-learn and pandas). Without it the
methods ``contextcite`` and ``contextcite16`` are skipped with a message saying so.

How it is run, so that it sees exactly what the other methods see:
- sources = the retrieved chunks (a partitioner over our chunks, not its sentence splitter);
- each ablated prompt is our default RAG prompt rendered from the kept chunks (``render_rag_prompt``);
- the response is the case's answer, given (teacher forcing), not generated;
- per sentence, ``ContextCiter.get_attributions(start, end)``: its LASSO surrogate weights, one per chunk.
Its own code does the ablations (random masks, keep probability 0.5), the forward passes and the fit.

Its ``context_cite.utils`` calls ``nltk.download("punkt_tab")`` when imported, a download we never make:
the import runs with ``nltk.download`` replaced by a no-op (the sentence splitter that needs it is not used).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import warnings
from typing import Any

import torch
from torch import Tensor

from ..prompt import encode_prompt, render_rag_prompt
from ..types import AttributorLike


@functools.cache
def _import() -> tuple[Any, Any, Any] | str:
    try:
        import nltk
    except ImportError:
        nltk = None
    original = getattr(nltk, "download", None)
    try:
        if nltk is not None:
            nltk.download = lambda *args, **kwargs: False  # no data download at import time
        import context_cite.utils as cc_utils
        from context_cite import ContextCiter
        from context_cite.context_partitioner import BaseContextPartitioner
    except ImportError as err:
        return (f"context-cite is not installed ({err}); `pip install context-cite` to compare with it "
                "(it pulls datasets, spacy, scikit-learn, pandas)")
    finally:
        if nltk is not None:
            nltk.download = original
    return ContextCiter, BaseContextPartitioner, cc_utils


def unavailable() -> str | None:
    """None when ContextCite can run here, else why not."""
    found = _import()
    return found if isinstance(found, str) else None


def contextcite_scores(attributor: AttributorLike, prepared: Any, num_ablations: int = 64) -> Tensor:
    """ContextCite's score for each (sentence, chunk): ``[n_sentences, n_chunks]``."""
    why = unavailable()
    if why is not None:
        raise RuntimeError(why)
    ContextCiter, BaseContextPartitioner, cc_utils = _import()
    case, tok = prepared.case, attributor.tokenizer
    chunks = list(case.chunks)

    class ChunkPartitioner(BaseContextPartitioner):
        """Sources are our chunks."""

        def __init__(self) -> None:
            super().__init__("\n\n".join(c.text for c in chunks))

        @property
        def num_sources(self) -> int:
            return len(chunks)

        def split_context(self) -> None:
            pass

        def get_source(self, index: int) -> str:
            return chunks[index].text

        def get_context(self, mask: Any = None) -> str:
            return "\n\n".join(c.text for i, c in enumerate(chunks) if mask is None or mask[i])

    class RagContextCiter(ContextCiter):
        """ContextCiter whose (ablated) prompts are our default RAG prompt over the kept chunks."""

        def _get_prompt_ids(self, mask: Any = None, return_prompt: bool = False):
            kept = [c for i, c in enumerate(chunks) if mask is None or mask[i]]
            text = render_rag_prompt(tok, case.question, kept, attributor.system_prompt).text
            ids = encode_prompt(tok, text)[0]
            return (ids, text) if return_prompt else ids

    pad_token, padding_side = tok.pad_token, tok.padding_side
    try:
        with _quiet(cc_utils):
            citer = RagContextCiter(
                attributor.model, tok, ChunkPartitioner().context, case.question,
                partitioner=ChunkPartitioner(), num_ablations=num_ablations,
            )
            _, prompt = citer._get_prompt_ids(return_prompt=True)
            citer._cache["output"] = prompt + case.answer  # the given answer is the response
            if citer._response_ids != prepared.answer_ids or citer.response != case.answer:
                raise RuntimeError("ContextCite's response tokens differ from the answer's; cannot compare")
            rows = [
                torch.as_tensor(citer.get_attributions(span.start, span.end, verbose=False), dtype=torch.float64)
                for span in case.spans
            ]
    finally:
        tok.pad_token, tok.padding_side = pad_token, padding_side  # ContextCiter sets pad_token
    return torch.stack(rows)


@contextlib.contextmanager
def _quiet(cc_utils: Any):
    """No tqdm bars, CUDA-autocast warnings or debug logging from context-cite while it runs."""
    tqdm = cc_utils.tqdm
    cc_utils.tqdm = lambda iterable, *args, **kwargs: iterable
    logger = logging.getLogger("ContextCite")
    level = logger.level
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        cc_utils.tqdm = tqdm
        logger.setLevel(level)
