"""Does a chunk carry a sentence, and what does ``verify`` call it: the one rule and the verdict names.

- ``supported``: a chunk the markers cite carries the sentence;
- ``contradicted``: a chunk carries the sentence, and the passage of its top chunk states another value of what
  the sentence says (``SentenceAttribution.conflict``: the chunk and the span it conflicts with);
- ``miscited``: markers are there, but the chunks carrying the sentence are others;
- ``uncited``: no marker, but a chunk carries the sentence;
- ``ungrounded``: no chunk carries the sentence: its support is below ``SUPPORTED`` or, without a support
  model, no chunk's share reaches ``min_share``.

Renderers, the Ray schema and the CLI take the names from here (a test checks that each view has each verdict).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

from .aggregate import cited_ids
from .types import Citation

Verdict = Literal["supported", "contradicted", "miscited", "uncited", "ungrounded"]
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)

SUPPORTED = 0.5  # a sentence whose support is lower is carried by no chunk: it cites none (``ungrounded``)


def is_supported(support: float) -> bool:
    """Some chunk carries the sentence: its support is at least ``SUPPORTED`` (NaN is no evidence of support)."""
    return support >= SUPPORTED


def carrying(citations: Sequence[Citation], min_share: float, support: float | None) -> tuple[str, ...]:
    """The chunks that carry a sentence (its ``cited``). Without a support probability: those with at least
    ``min_share``. With one, it decides *whether* a chunk carries the sentence and the shares decide *which*:
    none below ``SUPPORTED``, else those with at least ``min_share``, or the top chunk when none reaches it."""
    ids = cited_ids(citations, min_share)
    if support is None:
        return ids
    if not is_supported(support):
        return ()
    return ids or tuple(c.chunk_id for c in citations[:1] if c.score > 0)


def verdict(carried_by: Sequence[str], marked: Sequence[str], has_markers: bool, conflicting: str | None) -> Verdict:
    """One sentence's verdict from the chunks that carry it, the chunks its markers name, whether it has
    markers at all (a marker may name no chunk), and the chunk that states another value (None: none does).
    That chunk contradicts the sentence only where it carries it and the markers cite no other chunk that does."""
    if not carried_by:
        return "ungrounded"
    if conflicting in carried_by and not set(marked) & set(carried_by) - {conflicting}:
        return "contradicted"
    if not has_markers:
        return "uncited"
    return "supported" if set(marked) & set(carried_by) else "miscited"
