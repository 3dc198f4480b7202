"""A model reads a sentence beside the passage its relevance found, and says whether the passage supports it.

The AttnLRP shares say which chunk a sentence leans on; they cannot say whether the sentence states what the
chunk states: a sentence that changes a chunk's number or negates it leans on that chunk as a faithful one does.
Asked about the whole prompt, a small model is no judge of that; asked about one short passage (the sentences of
the top chunk that its evidence span touches, and one on either side), the 1.5B separates contradictions from
supported sentences, the default model less well (``benchmarks/transfer.md``). Its answer, log P(Yes) - log P(No),
is the support feature ``judge``: one forward pass of about 200 tokens per sentence, by the attribution model or
the one given as ``Attributor(judge=...)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .lrp import model_lock
from .prompt import encode_prompt, render_messages
from .text import split_sentences
from .types import Span

QUESTION = "Passages:\n{passages}\n\nClaim: {claim}\n\nIs the claim fully supported by the passages? Answer Yes or No."


def evidence_passage(chunk: str, spans: Sequence[Span]) -> str:
    """The chunk's sentences that the evidence spans touch, and one sentence on either side; all of the chunk
    where no span touches one."""
    sentences = split_sentences(chunk)
    touched = [i for i, s in enumerate(sentences) for span in spans if s.start < span.end and span.start < s.end]
    if not touched:
        return chunk
    first, last = max(min(touched) - 1, 0), min(max(touched) + 1, len(sentences) - 1)
    return chunk[sentences[first].start:sentences[last].end]


def answer_tokens(tokenizer: PreTrainedTokenizerBase, words: Sequence[str]) -> list[int]:
    """The first token of each spelling of an answer word (``Yes``, `` Yes``, ``yes``), without repeats."""
    return list(dict.fromkeys(tokenizer.encode(w, add_special_tokens=False)[0] for w in words))


@torch.no_grad()
def judge(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, passages: Sequence[str], claim: str,
          question: str = QUESTION) -> float:
    """log P(Yes) - log P(No) of ``model``'s first answer token to ``question`` about ``claim`` and ``passages``."""
    text = render_messages(tokenizer, [{"role": "user", "content": question.format(
        passages="\n\n".join(passages), claim=claim)}]).text
    ids = torch.tensor([encode_prompt(tokenizer, text)[0]], device=model.device)
    with model_lock(model):
        logits = model(input_ids=ids, logits_to_keep=1, use_cache=False).logits[0, -1]
    logp = logits.double().log_softmax(-1)
    yes, no = answer_tokens(tokenizer, ("Yes", " Yes", "yes")), answer_tokens(tokenizer, ("No", " No", "no"))
    return float(torch.logsumexp(logp[yes], 0) - torch.logsumexp(logp[no], 0))
