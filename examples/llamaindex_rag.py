"""Per-sentence citations on a standard LlamaIndex query engine's answer, offline.

    python examples/llamaindex_rag.py [--question "Who runs the bakery in Quenby?"]

The engine is plain LlamaIndex (VectorStoreIndex.from_documents, as_query_engine); rag_attrib takes part as
one node postprocessor. Two stand-ins keep the example offline: an embedding that hashes words (use yours,
e.g. HuggingFaceEmbedding) and, as the answering LLM, the embedded SmolLM2 (use any LLM, e.g. OpenAI: the
local model then scores that LLM's answer by teacher forcing, "proxy attribution").
"""

from __future__ import annotations

import argparse
import os
import re
import zlib
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # rag_attrib never downloads; this keeps transformers quiet too

import torch  # noqa: E402
from llama_index.core import Document, Settings, VectorStoreIndex  # noqa: E402
from llama_index.core.base.llms.types import CompletionResponse, CompletionResponseGen, LLMMetadata  # noqa: E402
from llama_index.core.embeddings import BaseEmbedding  # noqa: E402
from llama_index.core.llms import CustomLLM  # noqa: E402
from llama_index.core.llms.callbacks import llm_completion_callback  # noqa: E402
from rag_attrib_llamaindex import AttributionPostprocessor  # noqa: E402

from rag_attrib import Attributor  # noqa: E402

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


class LocalChatLLM(CustomLLM):
    """Stand-in LLM: a local Hugging Face chat model answering greedily, the prompt as one user turn."""

    model: Any
    tokenizer: Any
    max_new_tokens: int = 60

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(context_window=2048, num_output=self.max_new_tokens, model_name="local")

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        ids = self.tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                                 return_tensors="pt", return_dict=True)["input_ids"]
        with torch.no_grad():
            out = self.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=self.max_new_tokens,
                                      do_sample=False, pad_token_id=self.tokenizer.eos_token_id)
        return CompletionResponse(text=self.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip())

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        yield self.complete(prompt, formatted=formatted, **kwargs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--question", default="When was the Quenby lighthouse built?")
    args = parser.parse_args(argv)

    attributor = Attributor.load()  # the local model that scores answers: the embedded SmolLM2-135M-Instruct
    Settings.embed_model = WordHashEmbedding()
    Settings.llm = LocalChatLLM(model=attributor.model, tokenizer=attributor.tokenizer)

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
