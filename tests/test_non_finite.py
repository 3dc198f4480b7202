"""NaN and infinity: a model that produces them is refused, and no output of rag_attrib holds them."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from rag_attrib.batch import run_local, verify_line
from rag_attrib.errors import NonFiniteError, ResultFormatError
from rag_attrib.lrp.relevance import teacher_forced_logprobs
from rag_attrib.types import AttributionResult, Chunk

CHUNKS = [Chunk("a", "Harald Voss built the lighthouse in 1872."), Chunk("b", "The bakery sells bread.")]
ANSWER = "Harald Voss built it."


def strict_loads(text: str):
    """JSON as a parser other than Python's reads it: NaN and Infinity are errors."""
    def refuse(name):
        raise ValueError(f"{name} in the output")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(params=[float("nan"), float("inf")], ids=["nan", "inf"])
def broken(request, tiny_attributor):
    """The tiny model with its embeddings overwritten by NaN (or infinity): what a float16 overflow does."""
    with torch.no_grad():
        tiny_attributor.model.get_input_embeddings().weight.fill_(request.param)
    return tiny_attributor


def test_a_model_producing_nan_is_refused_with_the_cause_and_the_fix(broken):
    with pytest.raises(NonFiniteError) as caught:
        broken.attribute("Who built it?", CHUNKS, ANSWER)
    message = str(caught.value)
    assert "non-finite logits, log-probabilities, relevance" in message
    assert "torch.float64" in message and "float16" in message and "dtype=torch.float32" in message


def test_non_finite_log_probabilities_are_refused(broken):
    ids = torch.tensor(broken.tokenizer("Who built it? Harald Voss built it.")["input_ids"])
    with pytest.raises(NonFiniteError, match="non-finite log-probabilities"):
        teacher_forced_logprobs(broken.model, ids, 14, [(14, len(ids))])


def test_a_batch_run_on_a_nan_model_records_run_errors_and_writes_valid_json(broken, tmp_path):
    line = json.dumps({"id": "r1", "question": "Who built it?", "chunks": [c.to_dict() for c in CHUNKS],
                       "answer": ANSWER})
    record = verify_line(broken, line, 1)
    assert record["ok"] is False and record["error_type"] == "NonFiniteError" and record["error_kind"] == "run"
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(line + "\n")
    assert run_local(broken, src, out, progress=False)["errors"] == 1
    assert [r["error_kind"] for r in map(strict_loads, out.read_text().splitlines())] == ["run"]


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_record_holding_nan_is_an_input_error_and_the_output_stays_valid_json(value, tiny_attributor, tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(f'{{"id": {value}, "question": "q?", "answer": "A.", '
                   f'"chunks": [{{"id": "a", "text": "A.", "metadata": {{"score": {value}}}}}]}}\n')
    run_local(tiny_attributor, src, out, progress=False)
    (record,) = map(strict_loads, out.read_text().splitlines())
    assert record["ok"] is False and record["error_kind"] == "input" and record["id"] is None
    assert record["error"].startswith(f"line 1: the record holds id = {float(value)}, and JSON has no NaN or infinity")


def test_a_result_holding_nan_is_not_written_as_json(tiny_attributor):
    result = tiny_attributor.attribute("Who built it?", CHUNKS, ANSWER)
    strict_loads(result.to_json())  # a result rag_attrib computed is valid JSON
    sentence = dataclasses.replace(result.sentences[0], grounding=float("nan"))
    broken = dataclasses.replace(result, sentences=(sentence, *result.sentences[1:]))
    with pytest.raises(NonFiniteError, match=r"the result holds sentences\[0\]\.grounding = nan, and JSON has no NaN"):
        broken.to_json()
    citation = dataclasses.replace(result.sentences[0].citations[0], share=float("nan"))
    sentence = dataclasses.replace(result.sentences[0], citations=(citation, *result.sentences[0].citations[1:]))
    with pytest.raises(NonFiniteError, match=rf"sentences\[0\]\.citations\.{citation.chunk_id}\.share = nan"):
        dataclasses.replace(result, sentences=(sentence, *result.sentences[1:])).to_html()
    metadata = dataclasses.replace(result, chunks=(Chunk("a", CHUNKS[0].text, {"page": float("inf")}), CHUNKS[1]))
    with pytest.raises(NonFiniteError, match=r"chunks\[0\]\.metadata\.page = inf"):
        metadata.to_json()


def test_a_result_file_holding_nan_is_refused(tiny_attributor):
    text = tiny_attributor.attribute("Who built it?", CHUNKS, ANSWER).to_json()
    AttributionResult.from_json(text)
    edited = json.loads(text)
    edited["sentences"][0]["grounding"] = float("nan")
    with pytest.raises(ResultFormatError, match=r"sentences\[0\]\.grounding = nan"):
        AttributionResult.from_json(json.dumps(edited))


def test_eval_writes_no_nan_into_its_checkpoint_or_report(tmp_path):
    """An eval answer holding NaN is refused where it is kept, naming where it sits, instead of a bare NaN."""
    from rag_attrib.eval.checkpoint import Checkpoint

    checkpoint = Checkpoint(tmp_path / "out.partial.jsonl", {"model": "m"})
    with pytest.raises(NonFiniteError, match="an eval answer holds"):
        checkpoint({"source": "s", "case": "c", "records": [{"support": float("nan")}]})
