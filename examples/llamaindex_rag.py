"""Per-sentence citations on a standard LlamaIndex query engine's answer, offline.

    python examples/llamaindex_rag.py [--question "Who runs the bakery in Quenby?"]

The engine is plain LlamaIndex (VectorStoreIndex.from_documents, as_query_engine); rag_attrib takes part as
one node postprocessor. Two stand-ins keep the example offline: an embedding that hashes words (use yours,
e.g. HuggingFaceEmbedding) and, as the answering LLM, the default local model (Qwen2.5-Coder-0.5B-Instruct) through LocalLLM (use any LLM,
e.g. OpenAI: the local model then scores that LLM's answer by teacher forcing, "proxy attribution").
"""

from __future__ import annotations

import argparse
import re
import zlib

from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.embeddings import BaseEmbedding
from rag_attrib_llamaindex import AttributionPostprocessor, LocalLLM

from rag_attrib import Attributor

DOCUMENTS = {
    "lighthouse": "The Quenby lighthouse was built in 1872 by the engineer Harald Voss.",
    "bakery": "Quenby's bakery, run by Mira Tollan, sells a honey bread called tollencake.",
    "ferry": "Quenby is reached by ferry from the mainland port of Ardel, six times a day.",
    "school": "The Quenby school has forty pupils and a single teacher, Odile Brask.",
}


class WordHashEmbedding(BaseEmbedding):
    """Stand-in embedding: hashed word counts (offline, deterministic)."""

    @classmethod
    def class_name(cls) -> str:
        return "WordHashEmbedding"

    def _get_text_embedding(self, text: str) -> list[float]:
        vector = [0.0] * 256
        for word in re.findall(r"\w+", text.lower()):
            vector[zlib.crc32(word.encode()) % 256] += 1.0
        norm = sum(v * v for v in vector) ** 0.5 or 1.0
        return [v / norm for v in vector]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._get_text_embedding(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_text_embedding(query)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--question", default="When was the Quenby lighthouse built?")
    args = parser.parse_args(argv)

    attributor = Attributor.load()  # the local model that scores answers: the default, Qwen2.5-Coder-0.5B-Instruct
    Settings.embed_model = WordHashEmbedding()
    Settings.llm = LocalLLM(attributor)  # stand-in for any LLM: the same local model answers

    documents = [Document(text=text, metadata={"title": title}) for title, text in DOCUMENTS.items()]
    index = VectorStoreIndex.from_documents(documents)
    engine = index.as_query_engine(similarity_top_k=3, node_postprocessors=[AttributionPostprocessor(attributor)])
    response = engine.query(args.question)

    titles = {n.node.node_id: n.node.metadata["title"] for n in response.source_nodes}
    print(f"Question: {args.question}\nAnswer:   {response}\n")
    error = response.metadata["attribution"]["error"]
    if error:
        print(f"Not attributed: {error['type']}: {error['message']}")
    for sentence in response.metadata["citations"]:
        shares = ", ".join(f"{titles[c['chunk_id']]} {c['share']:.0%}" for c in sentence["citations"])
        cited = ", ".join(titles[i] for i in sentence["cited"]) or "none"
        print(f"{sentence['text']}\n   cites: {cited}   (shares: {shares})")
    print("\nSources (attribution score, retriever's similarity):")
    for source in response.source_nodes:
        score = "not attributed" if source.score is None else f"{source.score:.2f}"
        print(f"   {titles[source.node.node_id]:12} {score:>14}   {source.node.metadata['retrieval_score']:.2f}")


if __name__ == "__main__":
    main()
