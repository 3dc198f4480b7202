"""``rag-attrib attribute --stream`` and ``demo --stream``: each sentence printed with its citations as soon as
it is attributed, then the same result as without --stream."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_models import byte_tokenizer, tiny_llama

from rag_attrib import Attributor
from rag_attrib.cli import main
from rag_attrib.demo import DEMO
from rag_attrib.types import AttributionResult

ANSWER = "Alpha is first. Beta comes next. Gamma ends it."


@pytest.fixture
def tiny(monkeypatch):
    """Attributor.load gives a tiny random Llama; each sentence the stream yields is recorded with the output
    printed by then."""
    tokenizer = byte_tokenizer()
    attributor = Attributor(tiny_llama(vocab_size=len(tokenizer), max_position_embeddings=2048, scale=1.0),
                            tokenizer, max_new_tokens=24)
    monkeypatch.setattr(Attributor, "load", classmethod(lambda cls, name=None, **kw: attributor))
    return attributor


def write_chunks(tmp_path: Path) -> Path:
    chunks = tmp_path / "c.jsonl"
    chunks.write_text('{"id": "a", "text": "Alpha is the first letter."}\n{"id": "b", "text": "Beta is next."}\n')
    return chunks


def test_attribute_stream_prints_each_sentence_then_the_same_result(tmp_path: Path, capsys, tiny, monkeypatch):
    printed_when_yielded = []
    stream = Attributor.stream

    def watched(self, *args, **kwargs):
        for item in stream(self, *args, **kwargs):
            printed_when_yielded.append(capsys.readouterr().out)
            yield item

    monkeypatch.setattr(Attributor, "stream", watched)
    out = tmp_path / "out.json"
    chunks = write_chunks(tmp_path)
    assert main(["attribute", "--stream", "--chunks", str(chunks), "--question", "Which?", "--answer", ANSWER,
                 "--json", str(out)]) == 0

    assert "Alpha is first." in printed_when_yielded[1]  # printed before the second sentence was attributed
    assert "Beta comes next." in printed_when_yielded[2] and "cited:" in printed_when_yielded[1]
    batch = tiny.attribute("Which?", [{"id": "a", "text": "Alpha is the first letter."},
                                      {"id": "b", "text": "Beta is next."}], ANSWER)
    streamed = AttributionResult.from_json(out.read_text())
    assert [s.text for s in streamed.sentences] == [s.text for s in batch.sentences]
    assert [s.cited for s in streamed.sentences] == [s.cited for s in batch.sentences]
    assert [c.share for s in streamed.sentences for c in s.citations] == pytest.approx(
        [c.share for s in batch.sentences for c in s.citations], abs=1e-9)


def test_demo_stream_lets_the_model_write_and_prints_its_sentences(tmp_path: Path, capsys, tiny):
    out = tmp_path / "demo.json"
    assert main(["demo", "--stream", "--json", str(out)]) == 0
    result = AttributionResult.from_json(out.read_text())
    assert not result.proxy and result.question == DEMO["question"]
    assert result.answer == tiny.attribute(DEMO["question"], DEMO["chunks"]).answer
    assert "cited:" in capsys.readouterr().out
