"""The judge: the model's yes/no log-odds on one evidence passage, read as the support feature ``judge``."""

from __future__ import annotations

import pytest
import torch

from rag_attrib.errors import InvalidInputError
from rag_attrib.judge import QUESTION, answer_tokens, evidence_passage, judge
from rag_attrib.support import ByChunkLength, SupportModel, features, reads
from rag_attrib.types import Span

SIGNALS = {"shares": [0.6, 0.2], "grounding": 0.8, "tokens": 3, "lp_all": -3.0, "lp_none": -9.0,
           "lp_without_tops": -6.0}
CHUNK = "Alpha is first. Beta is second. Gamma is third. Delta is fourth. Epsilon is fifth."


def test_the_evidence_passage_is_the_touched_sentences_and_one_on_either_side():
    gamma = Span(CHUNK.index("Gamma"), CHUNK.index("Gamma") + 5)
    assert evidence_passage(CHUNK, [gamma]) == "Beta is second. Gamma is third. Delta is fourth."
    assert evidence_passage(CHUNK, [Span(0, 3)]) == "Alpha is first. Beta is second."  # no sentence before the first
    across = Span(CHUNK.index("second"), CHUNK.index("Gamma") + 3)  # a span over two sentences
    assert evidence_passage(CHUNK, [across]) == "Alpha is first. Beta is second. Gamma is third. Delta is fourth."
    assert evidence_passage(CHUNK, []) == CHUNK  # no evidence: the whole chunk


def test_the_judge_is_the_log_odds_of_yes_against_no_at_the_first_answer_token(tiny_attributor):
    from rag_attrib.prompt import encode_prompt, render_messages

    model, tokenizer = tiny_attributor.model, tiny_attributor.tokenizer
    claim, passage = "Gamma is third.", "Beta is second. Gamma is third."
    text = render_messages(tokenizer, [{"role": "user", "content": QUESTION.format(passages=passage, claim=claim)}]).text
    with torch.no_grad():
        logp = model(torch.tensor([encode_prompt(tokenizer, text)[0]])).logits[0, -1].double().log_softmax(-1)
    yes, no = answer_tokens(tokenizer, ("Yes", " Yes", "yes")), answer_tokens(tokenizer, ("No", " No", "no"))
    by_hand = torch.log(logp[yes].exp().sum()) - torch.log(logp[no].exp().sum())
    assert judge(model, tokenizer, [passage], claim) == pytest.approx(float(by_hand), abs=1e-9)
    assert judge(model, tokenizer, [passage], "Gamma is fifth.") != judge(model, tokenizer, [passage], claim)


def test_a_fit_reads_the_judge_only_where_it_names_it():
    assert "judge" not in features(SIGNALS) and features({**SIGNALS, "judge": -1.5})["judge"] == -1.5
    with_judge = SupportModel(("best_share", "judge"), (1.0, 1.0), 0.0, (0.0, 0.0), (1.0, 1.0))
    without = SupportModel(("best_share",), (1.0,), 0.0, (0.0,), (1.0,))
    assert reads(with_judge, "judge", 5.0) and not reads(without, "judge", 5.0)
    assert not reads(lambda signals: 0.5, "judge", 5.0)  # a callable of one's own pays for no pass it did not name

    def named(signals):
        return 0.5

    named.names = ("judge",)
    assert reads(named, "judge", 5.0)
    both = ByChunkLength(without, with_judge, short_words=10.0, long_words=40.0)
    assert not reads(both, "judge", 10.0) and reads(both, "judge", 20.0) and reads(both, "judge", 40.0)
    assert not reads(ByChunkLength(None, with_judge, 10.0, 40.0), "judge", 20.0)  # the shares decide there
    with pytest.raises(KeyError, match="judge"):
        with_judge(SIGNALS)
    assert with_judge({**SIGNALS, "judge": 2.0}) > with_judge({**SIGNALS, "judge": -2.0})


def test_the_attributor_gives_the_judge_of_the_top_chunks_evidence_passage(tiny_attributor):
    from rag_attrib import Attributor
    from rag_attrib.eval.methods import count_forwards

    seen = []

    class Recording(SupportModel):
        def __call__(self, signals):
            seen.append(dict(signals))
            return 0.9

    reading = Recording(("best_share", "judge"), (1.0, 1.0), 0.0, (0.0, 0.0), (1.0, 1.0))
    chunks = [CHUNK, "Mira Tollan runs the bakery. It opens at six."]
    answer = "Gamma is third. The bakery opens at six."
    attributor = Attributor(tiny_attributor.model, tiny_attributor.tokenizer, min_share=0.0, support=reading,
                            evidence="all")
    with count_forwards(attributor.model) as counter:
        result = attributor.attribute("Which is third?", chunks, answer)
    for signals, sentence in zip(seen, result.sentences, strict=True):
        top = sentence.citations[0]
        passage = evidence_passage(result.chunk(top.chunk_id).text, [top.evidence[0].span])
        assert signals["judge"] == pytest.approx(judge(attributor.model, attributor.tokenizer, [passage],
                                                       sentence.text), abs=1e-9)
    assert counter.count == 1 + 2 + len(result.sentences)  # one short pass per sentence beside the support's two
    seen.clear()
    attributor.support = Recording(("best_share",), (1.0,), 0.0, (0.0,), (1.0,))
    with count_forwards(attributor.model) as counter:
        attributor.attribute("Which is third?", chunks, answer)
    assert counter.count == 3 and all("judge" not in s for s in seen)  # no fit reads it: no pass


def test_another_model_may_judge(tiny_attributor):
    from tiny_models import tiny_llama

    from rag_attrib import Attributor
    from rag_attrib.errors import InvalidTypeError

    seen = []

    class Recording(SupportModel):
        def __call__(self, signals):
            seen.append(signals["judge"])
            return 0.9

    other = tiny_llama(vocab_size=len(tiny_attributor.tokenizer), max_position_embeddings=2048, scale=1.0, seed=7)
    reading = Recording(("judge",), (1.0,), 0.0, (0.0,), (1.0,))
    args = ("Which is third?", [CHUNK], "Gamma is third.")
    own = Attributor(tiny_attributor.model, tiny_attributor.tokenizer, support=reading, evidence="all")
    by_other = Attributor(tiny_attributor.model, tiny_attributor.tokenizer, support=reading, evidence="all",
                          judge=(other, tiny_attributor.tokenizer))
    result = by_other.attribute(*args)
    own.attribute(*args)
    passage = evidence_passage(CHUNK, [result.sentences[0].citations[0].evidence[0].span])
    assert seen[0] == pytest.approx(judge(other, tiny_attributor.tokenizer, [passage], "Gamma is third."), abs=1e-9)
    assert seen[1] != seen[0]  # the attribution model judges otherwise
    with pytest.raises(InvalidTypeError, match=r"judge must be a \(model, tokenizer\) pair"):
        Attributor(tiny_attributor.model, tiny_attributor.tokenizer, judge=other)
    with pytest.raises(InvalidInputError, match="never does"):  # a judge no fit reads would only cost memory
        Attributor(tiny_attributor.model, tiny_attributor.tokenizer, judge=(other, tiny_attributor.tokenizer))


def test_the_default_model_brings_the_fit_that_reads_the_15b_judge():
    from rag_attrib.model import calibration, default_support

    plain, judged = default_support("qwen2.5-0.5b"), default_support("qwen2.5-0.5b", judge="qwen2.5-1.5b")
    shipped = calibration("qwen2.5-0.5b")["support_judged"]
    assert judged.long == SupportModel.from_dict(shipped["long"]["fit"]) and "judge" in judged.long.names
    assert judged.long_words == shipped["long"]["words"]
    assert judged.short == plain.short and judged.short_words == plain.short_words  # short chunks: no judged fit
    assert reads(judged, "judge", 150.0) and not reads(judged, "judge", 10.0)  # asked on paragraphs only
    with pytest.raises(InvalidInputError, match="its judged fit reads 'qwen2.5-1.5b'"):
        default_support("qwen2.5-0.5b", judge="smollm2")
    with pytest.raises(InvalidInputError, match="no support fit of smollm2 reads the judge"):
        default_support("smollm2", judge="qwen2.5-1.5b")
    with pytest.raises(InvalidInputError, match="only named offline models"):
        default_support("a/folder", judge="qwen2.5-1.5b")


def test_load_with_a_judge_loads_it_beside_the_model_with_its_fit(monkeypatch, tiny_attributor):
    import rag_attrib.model as model_module
    from rag_attrib import Attributor

    loaded = []
    pair = (tiny_attributor.model, tiny_attributor.tokenizer)
    monkeypatch.setattr(model_module, "load_model", lambda name=None, **kw: loaded.append((name, kw)) or pair)
    attributor = Attributor.load(judge="qwen2.5-1.5b", dtype=torch.float64, cache="/c", gguf_file="m.gguf")
    assert loaded == [("qwen2.5-1.5b", {"dtype": torch.float64, "cache": "/c"}),  # first: is it installed?
                      (None, {"dtype": torch.float64, "cache": "/c", "gguf_file": "m.gguf"})]
    assert attributor.judge == pair
    assert attributor.support is model_module.default_support(None, judge="qwen2.5-1.5b")
    loaded.clear()
    with pytest.raises(InvalidInputError, match="no support fit of smollm2 reads the judge"):
        Attributor.load("smollm2", judge="qwen2.5-1.5b")
    with pytest.raises(InvalidInputError, match="never does"):
        Attributor.load(judge="qwen2.5-1.5b", support=None)
    assert loaded == []  # told before any model loads
