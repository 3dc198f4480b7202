"""rag_attrib for LangChain: sentence-level citations for any RAG chain, from inside a local model (AttnLRP).

``CitationCallbackHandler`` attributes every run of a chain it is passed to; ``with_citations`` wraps a
chain so its output carries the citations. Neither ever breaks the chain: failures are logged and recorded.
"""

from .handler import CitationCallbackHandler, RunCitations, SentenceCitations, document_chunks
from .runnable import CITATION_EVENT, CitedRunnable, with_citations

__all__ = ["CITATION_EVENT", "CitationCallbackHandler", "CitedRunnable", "RunCitations", "SentenceCitations",
           "document_chunks", "with_citations"]
__version__ = "0.1.0"
