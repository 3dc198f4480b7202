"""LlamaIndex integration of rag_attrib: per-sentence citations on a query engine's response.

    engine = index.as_query_engine(node_postprocessors=[AttributionPostprocessor(Attributor.load())])
    response = engine.query("...")
    response.metadata["citations"]      # one entry per answer sentence, citing node ids
    response.source_nodes[0].score      # attribution score; node.metadata["retrieval_score"] keeps the retriever's

``LocalLLM(attributor)`` lets the attributor's own model answer, for a pipeline that runs offline.
"""

from __future__ import annotations

from .llm import LocalLLM
from .postprocessor import AttributionPostprocessor, ResponseNotAttributableError

__version__ = "0.1.0"
__all__ = ["AttributionPostprocessor", "LocalLLM", "ResponseNotAttributableError"]
