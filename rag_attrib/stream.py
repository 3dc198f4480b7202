"""Attribution while the answer streams: each sentence's citations as soon as the sentence is settled, and at the
end the same ``AttributionResult`` as ``Attributor.attribute`` gives on the finished answer.

When a sentence is settled (``settled_sentences``): ``split_sentences`` of the text so far holds a sentence after
it, and the text after it starts, once blank space, closed brackets (citation markers) and stray punctuation are
passed over, with a whole word followed by the beginning of another; for a sentence ending in a Chinese or
Japanese full stop, with two characters. More text can then no longer change the sentence's span: the splitter
decides a boundary from the words on either side of it (the next word's first characters), a marker after a
sentence (closed bracket) is given to the sentence before it, and a two-letter abbreviation ("z. B.") is seen
once the word after it has begun.

The tokens: the answer is tokenized as a whole at the end (``prompt.encode``); while it grows, a settled sentence's
tokens are those of the text so far, which more text no longer changes (a tokenizer splits at word boundaries
first, and a whole word follows the sentence). They run forward in one step when the sentence is settled (one
step per token would keep the whole key/value cache once per token for the backward passes:
``lrp.incremental``). A token that changes all the same (a tokenizer that merges across words) is run again, and
a sentence given out on it is attributed again for the final result, with a warning.

Where the local model writes the answer, its greedy generation continues from the attribution's own forward pass
of the prompt (a cache of its keys and values), without graph; the answer's tokens then run once more, with
graph, sentence by sentence.

Support (``rag_attrib.support``) needs the whole answer: its log-probabilities without the chunks that are the top
chunk of *any* sentence, later ones included. A streamed sentence therefore has ``support=None`` and cites by
the shares alone; the final result has the real support, and with it its own ``cited``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import torch

from .errors import EmptyAnswerError, InvalidTypeError
from .lrp.incremental import GrowingGraph
from .lrp.relevance import memory_plan, sentence_relevance
from .markers import citation_spans
from .prompt import Encoded, RenderedPrompt, encode, encode_prompt
from .text import check_answer, is_blank, split_sentences
from .types import AttributionResult, Chunk, SentenceAttribution, Span

if TYPE_CHECKING:
    from .attribute import Attributor

logger = logging.getLogger(__name__)

_CLOSING = {"[": "]", "(": ")", "\u3010": "\u3011"}
_CJK_END = "\u3002\uff01\uff1f\u300d\u300f\uff09\u201d"
_WORD_THEN_WORD = re.compile(r"\S+\s+\S")


def settled_sentences(text: str, spans: Sequence[Span] | None = None) -> int:
    """How many leading sentences of ``split_sentences(text)`` (or ``spans``) keep their spans whatever text
    follows (the rule is in the module's docstring). The last sentence is never settled: only the end of the
    answer settles it."""
    spans = split_sentences(text) if spans is None else spans
    settled = 0
    for span in spans[:-1]:
        rest = _after_markers(text, span.end)
        if rest is None:
            break
        cjk = span.end > span.start and text[span.end - 1] in _CJK_END
        if not (_WORD_THEN_WORD.match(rest) or cjk and len(rest.rstrip()) >= 2):
            break
        settled += 1
    return settled


def _after_markers(text: str, pos: int) -> str | None:
    """The text after ``pos`` from its first character that is not blank space, punctuation a marker may carry,
    or a closed bracket; None while a bracket is open there (it may still close as a citation marker)."""
    while pos < len(text):
        char = text[pos]
        if char.isspace() or char in ".,;:!?":
            pos += 1
        elif char in _CLOSING:
            end = text.find(_CLOSING[char], pos + 1)
            if end < 0:
                return None
            pos = end + 1
        else:
            break
    return text[pos:]


class AnswerStream:
    """The attribution of one answer while it grows: ``feed(piece)`` returns the sentences it settled, each
    attributed (``SentenceAttribution``, with ``support=None``); ``finish()`` the full ``AttributionResult``,
    equal to ``Attributor.attribute`` on the finished answer.

    With ``memory="fast"`` (or ``"auto"`` choosing it for the prompt plus ``max_new_tokens``), the prompt runs
    forward once with its graph, each new token once more, and each sentence's backward pass goes through the
    graph so far. With ``"low"`` no graph is kept: each settled sentence is recomputed layer by layer
    (``sentence_relevance``) over the prompt and the answer up to its end, so memory stays as low as
    ``attribute``'s and time grows with the number of sentences. Made by ``Attributor.open_stream``.
    """

    def __init__(self, attributor: Attributor, rendered: RenderedPrompt, chunks: tuple[Chunk, ...],
                 question: str | None, target: str, proxy: bool) -> None:
        """The answer to the ``rendered`` prompt of ``chunks`` (and ``question``, where the prompt is the default
        one), attributed by ``attributor``, each sentence's score explaining ``target``; ``proxy``: the answer
        comes from outside, teacher-forced."""
        self.attributor, self.rendered, self.chunks = attributor, rendered, chunks
        self.question, self.target, self.proxy = question, target, proxy
        self.text = ""
        self.sentences: list[SentenceAttribution] = []  # given out so far, in order
        self._prompt_ids = encode_prompt(attributor.tokenizer, rendered.text)[0]
        attributor._check_length(len(self._prompt_ids) + 1, len(self._prompt_ids))
        expected = len(self._prompt_ids) + attributor.max_new_tokens
        self.keeps_graph = memory_plan(attributor.model, expected, attributor.memory) == "fast"
        self._graph = GrowingGraph(attributor.model, self._prompt_ids, target) if self.keeps_graph else None
        self._rows: list[tuple[torch.Tensor, float, float, tuple]] = []  # per sentence given out: relevance row,
        # target value, log-probability, and what it was computed on (span, token range, skipped tokens)
        self._finished: AttributionResult | None = None

    def feed(self, piece: str) -> list[SentenceAttribution]:
        """Add a piece of the answer; returns the sentences it settled, attributed, in order (often none)."""
        if not isinstance(piece, str):
            raise InvalidTypeError(f"each piece of the answer must be a str, got {type(piece).__name__}")
        if self._finished is not None:
            raise InvalidTypeError("this answer stream is finished; open a new one for another answer")
        self.text += piece
        spans = split_sentences(self.text)
        settled = settled_sentences(self.text, spans)
        if settled <= len(self.sentences):
            return []
        enc = self._encode(self.text)
        return self._attribute(enc, settled)

    def finish(self) -> AttributionResult:
        """The whole answer's result (the same as ``Attributor.attribute`` on it); the graph is freed."""
        if self._finished is not None:
            return self._finished
        answer = self.text
        if not self.proxy:
            answer = answer.strip()
            if is_blank(answer):
                raise EmptyAnswerError(
                    "the model generated an empty answer; pass answer=... or check the prompt and max_new_tokens")
        check_answer(answer)
        self.text = answer
        enc = self._encode(answer)
        self.attributor._check_length(enc.seq_len, enc.answer_start)
        for i, (_, _, _, made_on) in enumerate(self._rows):
            if i >= enc.n_sentences or made_on != _made_on(enc, i):
                logger.warning("rag_attrib: streamed sentence %d (%r) changed when the answer ended; the final "
                               "result attributes it again", i, self.sentences[i].text[:40])
                del self._rows[i:]
                break
        self._attribute(enc, enc.n_sentences)
        relevance = torch.stack([_fit(row, enc.seq_len) for row, _, _, _ in self._rows])
        values = torch.tensor([v for _, v, _, _ in self._rows], dtype=relevance.dtype)
        logprobs = torch.tensor([lp for _, _, lp, _ in self._rows], dtype=relevance.dtype)
        self._graph = None
        self._finished = self.attributor._result(enc, self.chunks, relevance, values, logprobs, self.question,
                                                 self.target, self.proxy)
        return self._finished

    def generate(self) -> Iterator[str]:
        """The local model's greedy answer (as ``Attributor.generate`` writes it), piece by piece, to feed this
        stream; it continues from the attribution's forward pass of the prompt."""
        attributor = self.attributor
        attributor._check_length(len(self._prompt_ids) + attributor.max_new_tokens, len(self._prompt_ids))
        prompt = self._graph or GrowingGraph(attributor.model, self._prompt_ids, self.target, grad=False)
        generator = prompt.generator()
        eos = attributor.model.generation_config.eos_token_id
        eos = set(eos if isinstance(eos, (list, tuple)) else [] if eos is None else [eos])
        tokens: list[int] = []
        given = ""
        for _ in range(attributor.max_new_tokens):
            token = generator.next_token()
            if token in eos:
                break
            generator.extend(token)
            tokens.append(token)
            text = attributor.tokenizer.decode(tokens, skip_special_tokens=True).lstrip()
            text = text[:-1]  # the last character may still change (a split character, spaces cleaned up)
            if text.startswith(given) and len(text) > len(given):
                piece, given = text[len(given):], text
                yield piece
        final = attributor.tokenizer.decode(tokens, skip_special_tokens=True).strip()
        if final.startswith(given):
            yield final[len(given):]
        else:  # the decoded text changed under what was given out: finish() checks every sentence again
            self.text = final

    # ------------------------------------------------------------------------------------------------ internals

    def _encode(self, text: str) -> Encoded:
        return encode(self.attributor.tokenizer, self.rendered, text, skip=citation_spans(text, self.chunks))

    def _attribute(self, enc: Encoded, settled: int) -> list[SentenceAttribution]:
        """Attribute sentences ``len(self._rows)..settled - 1`` of ``enc`` (one batch of backward passes)."""
        if settled <= len(self._rows):
            return []
        end = enc.sentence_tokens[settled - 1][1]
        if self._graph is not None:
            self._sync(enc.answer_ids[: end - enc.answer_start])  # may drop rows made on tokens that changed
        first = len(self._rows)
        spans = enc.sentence_tokens[first:settled]
        skip = [t for t in enc.skip if spans[0][0] <= t < end]
        attributor = self.attributor
        if self._graph is not None:
            relevance, values, logprobs = self._graph.relevance(spans, skip, attributor.backward)
        else:
            relevance, values, logprobs = sentence_relevance(
                attributor.model, torch.tensor(enc.prompt_ids + enc.answer_ids[: end - enc.answer_start]),
                enc.answer_start, spans, target=self.target, backward=attributor.backward, memory="low", skip=skip)
        relevance = _fit(relevance, enc.seq_len)
        units = None
        new = []
        for k, i in enumerate(range(first, settled)):
            self._rows.append((relevance[k], float(values[k]), float(logprobs[k]), _made_on(enc, i)))
            if i < len(self.sentences):
                continue  # given out before, attributed again for the final result
            if units is None:
                from .attribute import evidence_units_by_chunk

                units = evidence_units_by_chunk(enc, self.chunks)
            row = attributor._citation_row(enc, self.chunks, relevance[k], i)
            new.append(attributor._sentence(enc, self.chunks, i, row, relevance[k], float(values[k]), None, units,
                                            self.question))
        self.sentences += new
        return new

    def _sync(self, ids: list[int]) -> None:
        """Make the graph's answer tokens start with ``ids``: run the missing ones; where it holds others (a token
        that changed), start the graph again from the prompt."""
        held = self._graph.answer_ids
        same = next((i for i, (a, b) in enumerate(zip(held, ids)) if a != b), min(len(held), len(ids)))
        if same < len(held) and same < len(ids):
            self._graph = GrowingGraph(self.attributor.model, self._prompt_ids, self.target)
            self._graph.extend(ids[:same])
            for i, (_, _, _, made_on) in enumerate(self._rows):
                if made_on[1][1] - len(self._prompt_ids) > same:
                    del self._rows[i:]  # attributed on tokens that changed: again, from here
                    break
        self._graph.extend(ids[len(self._graph.answer_ids):])


def _fit(relevance: torch.Tensor, length: int) -> torch.Tensor:
    """Relevance rows cut or padded with zeros to ``length`` tokens (a token after a sentence's end has none)."""
    return torch.nn.functional.pad(relevance, (0, length - relevance.shape[-1]))


def _made_on(enc: Encoded, i: int) -> tuple:
    """What sentence ``i``'s relevance depends on: its span, its token range and the tokens before its end
    (ids), and which of its tokens its target skips."""
    a, b = enc.sentence_tokens[i]
    return (enc.sentence_spans[i], (a, b), tuple(enc.answer_ids[: b - enc.answer_start]),
            tuple(t for t in enc.skip if a <= t < b))


def answer_pieces(answer: str) -> list[str]:
    """A given answer in word-sized pieces, so that its sentences are attributed (and given out) one by one."""
    return re.findall(r"\s*\S+\s*", answer) or [answer]


def stream_pieces(stream: AnswerStream, pieces: Iterable[str]) -> Iterator[SentenceAttribution | AttributionResult]:
    """Feed ``pieces`` to ``stream``: each settled sentence as it is attributed, then the final result."""
    for piece in pieces:
        yield from stream.feed(piece)
    yield stream.finish()
