"""The demo's question and chunks (``make demo``, ``rag-attrib demo``)."""

from __future__ import annotations

from typing import Any

from .types import Chunk

# A fictional island, so the small default model cannot answer from memory: every chunk is about the same
# town (distractors with years and numbers of their own); the answer to the question is in one chunk only.
DEMO: dict[str, Any] = {
    "question": "In what year was the Quillhaven lighthouse first lit?",
    "chunks": (
        Chunk(
            id="ferry",
            text=(
                "The ferry Gull Maiden links Quillhaven to the mainland port of Dunmorrow. It has sailed twice a "
                "day since 1964, and the crossing takes about ninety minutes in calm weather."
            ),
        ),
        Chunk(
            id="bakery",
            text=(
                "Marrow & Daughters, the oldest bakery on Quillhaven, opened in 1903. It is known for its "
                "seaweed rye bread, which is still baked in the original stone oven."
            ),
        ),
        Chunk(
            id="lighthouse",
            text=(
                "The Quillhaven lighthouse stands on Tern Point at the northern tip of the island. It was first "
                "lit in 1847, and its keeper, Ada Fenwick, tended the lamp for forty years."
            ),
        ),
        Chunk(
            id="festival",
            text=(
                "Every August, Quillhaven holds the Lantern Tide festival, when boats carry paper lanterns around "
                "the harbour. The festival began in 1921 to celebrate the return of the herring fleet."
            ),
        ),
        Chunk(
            id="population",
            text=(
                "Quillhaven is a small town of about 2,300 people on the island of the same name. Most residents "
                "work in fishing, tourism or the island's wool mill."
            ),
        ),
    ),
}
