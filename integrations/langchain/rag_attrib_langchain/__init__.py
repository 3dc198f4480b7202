"""rag_attrib for LangChain: sentence-level citations for any RAG chain, from inside a local model (AttnLRP).

``CitationCallbackHandler`` attributes every run of a chain it is passed to; ``with_citations`` wraps a
chain so its output carries the citations. Neither ever breaks the chain: failures are logged and recorded.
"""

from .handler import CitationCallbackHandler, RunCitations, document_chunks
from .runnable import CitedRunnable, with_citations

__all__ = ["CitationCallbackHandler", "CitedRunnable", "RunCitations", "document_chunks", "with_citations"]
__version__ = "0.1.0"
