"""The support model: features by hand, the logistic fit, round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rag_attrib.errors import InvalidInputError
from rag_attrib.support import SupportModel, features, fit_logistic

SIGNALS = {"shares": [0.1, 0.4, 0.2], "grounding": 0.7, "tokens": 4, "lp_all": -8.0, "lp_none": -20.0,
           "lp_without_tops": -14.0}


def test_features_by_hand():
    assert features(SIGNALS) == {"best_share": 0.4, "grounding": 0.7, "gain_per_token": 3.0, "drop_per_token": 1.5,
                                 "lp_per_token": -2.0}


def test_a_sentences_relative_features_are_its_distance_from_its_answers_mean():
    from rag_attrib.support import with_answer

    other = {**SIGNALS, "shares": [0.8, 0.1, 0.1], "lp_all": -4.0}  # best share 0.8, gain 4.0 a token
    first, second = with_answer([SIGNALS, other])
    assert first["answer_means"] == second["answer_means"] == pytest.approx({"best_share": 0.6, "gain_per_token": 3.5})
    assert features(first) == pytest.approx({**features(SIGNALS), "rel_best_share": -0.2, "rel_gain_per_token": -0.5})
    assert features(second)["rel_gain_per_token"] == pytest.approx(0.5)
    assert features(with_answer([SIGNALS])[0])["rel_gain_per_token"] == 0.0  # an answer of one sentence
    assert with_answer([]) == []
    from rag_attrib.support import with_answers

    rows = [{**SIGNALS, "case": "a"}, {**other, "case": "b"}, {**other, "case": "a"}]  # two answers, interleaved
    grouped = with_answers(rows, "case")
    assert [r["case"] for r in grouped] == ["a", "b", "a"]  # the rows keep their order
    assert grouped[0]["answer_means"] == grouped[2]["answer_means"] == first["answer_means"]
    assert grouped[1]["answer_means"] == pytest.approx({"best_share": 0.8, "gain_per_token": 4.0})


def test_the_fit_separates_what_is_separable_and_is_calibrated_at_the_middle():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 2, generator=g, dtype=torch.float64)
    y = (x[:, 0] - 0.5 * x[:, 1] + 0.3 * torch.randn(400, generator=g, dtype=torch.float64) > 0).double()
    model = fit_logistic(x, y, ["a", "b"], l2=0.1)
    assert model.weights[0] > 0 > model.weights[1]  # the direction that generated the labels
    p = model.probability(x)
    assert ((p > 0.5).double() == y).double().mean() > 0.9
    assert abs(float(p.mean()) - float(y.mean())) < 0.02  # a logistic fit with a bias matches the base rate


def test_round_trip_and_call_on_signals():
    model = SupportModel(("best_share", "gain_per_token"), (2.0, 1.0), -0.5, (0.3, 1.0), (0.1, 2.0))
    assert SupportModel.from_dict(model.to_dict()) == model
    z = 2.0 * (0.4 - 0.3) / 0.1 + 1.0 * (3.0 - 1.0) / 2.0 - 0.5
    assert model(SIGNALS) == pytest.approx(1 / (1 + torch.exp(torch.tensor(-z)).item()))


def test_without_chunks_cuts_exactly_the_chunks():
    from rag_attrib.support import without_chunks
    from rag_attrib.types import Span

    text = "A [1] first. [2] second. Q?"
    spans = [Span(6, 12), Span(17, 24)]
    assert without_chunks(text, spans, [0]) == "A [1]  [2] second. Q?"
    assert without_chunks(text, spans, [1, 0]) == "A [1]  [2]  Q?"
    assert without_chunks(text, spans, []) == text


def test_the_attributor_scores_support_from_its_signals(tiny_attributor):
    from rag_attrib import Attributor
    from rag_attrib.lrp.relevance import teacher_forced_logprobs
    from rag_attrib.prompt import encode, render_rag_prompt
    from rag_attrib.verification import verify

    seen = []

    class Recording(SupportModel):
        def __call__(self, signals):
            seen.append(dict(signals))
            return 0.1  # nothing supported

    low = Recording(("best_share",), (1.0,), 0.0, (0.0,), (1.0,))
    chunks = ["Harald Voss built the lighthouse.", "Mira Tollan runs the bakery."]
    attributor = Attributor(tiny_attributor.model, tiny_attributor.tokenizer, min_share=0.0, support=low)
    result = attributor.attribute("Who built it?", chunks, "Harald Voss built it. It is old.")
    assert [s.support for s in result.sentences] == [0.1, 0.1] and all(s.cited == () for s in result.sentences)
    assert [s["chunk_words"] for s in seen] == [5.0, 5.0]  # what ByChunkLength chooses by
    # lp_all is the engine's by-product: the same as a separate teacher-forced pass over the whole prompt
    enc = encode(attributor.tokenizer, render_rag_prompt(attributor.tokenizer, "Who built it?", result.chunks),
                 result.answer)
    lp_all = teacher_forced_logprobs(attributor.model, enc.input_ids, enc.answer_start, enc.sentence_tokens)
    assert [s["lp_all"] for s in seen] == pytest.approx(lp_all.tolist(), abs=1e-9)
    assert all(s["lp_none"] != s["lp_all"] for s in seen)  # a different prompt
    gains = [features(s)["gain_per_token"] for s in seen]  # each sentence sees its answer's mean
    assert [features(s)["rel_gain_per_token"] for s in seen] == pytest.approx([g - sum(gains) / 2 for g in gains])
    verdicts = verify(attributor, "Who built it?", chunks, "Harald Voss built it [1]. It is old.")
    assert [s.verdict for s in verdicts.sentences] == ["ungrounded", "ungrounded"]
    undecided = Attributor(tiny_attributor.model, tiny_attributor.tokenizer, min_share=0.1, support=lambda s: None)
    shares = Attributor(tiny_attributor.model, tiny_attributor.tokenizer, min_share=0.1, support=None)
    left = undecided.attribute("Who built it?", chunks, "Harald Voss built it. It is old.")
    by_shares = shares.attribute("Who built it?", chunks, "Harald Voss built it. It is old.")
    assert [s.support for s in left.sentences] == [None, None]
    assert [s.cited for s in left.sentences] == [s.cited for s in by_shares.sentences]  # the shares decide
    from rag_attrib.eval.methods import count_forwards
    from rag_attrib.support import ByChunkLength

    def never_called(signals):
        raise AssertionError("the shares decide here")

    undecided.support = ByChunkLength(None, never_called, short_words=100.0, long_words=200.0)
    with count_forwards(undecided.model) as counter:
        left = undecided.attribute("Who built it?", chunks, "Harald Voss built it. It is old.")
    assert counter.count == 1 and [s.support for s in left.sentences] == [None, None]  # no extra pass
    plain = Attributor(tiny_attributor.model, tiny_attributor.tokenizer, support=None)
    three = plain.attribute("Who built it?", chunks, "Harald Voss built it. It is old. It is tall.")  # > chunks
    assert [s.support for s in three.sentences] == [None, None, None]


def test_support_decides_whether_a_chunk_carries_the_sentence_and_the_shares_which():
    from rag_attrib.types import Citation
    from rag_attrib.verdicts import carrying

    citations = (Citation("a", 3.0, 0.2), Citation("b", 1.0, 0.1))
    assert carrying(citations, 0.15, None) == ("a",)
    assert carrying(citations, 0.3, None) == ()  # no support model: the shares alone
    assert carrying(citations, 0.15, 0.4) == ()  # supported by no chunk, whatever the shares
    assert carrying(citations, 0.05, 0.9) == ("a", "b")
    assert carrying(citations, 0.3, 0.9) == ("a",)  # supported, no share reaches min_share: the top chunk
    assert carrying((Citation("a", -1.0, 0.0),), 0.3, 0.9) == ()  # ... unless it has no positive relevance
    assert carrying(citations, 0.15, 0.0) == () and carrying(citations, 0.15, float("nan")) == ()
    assert carrying(citations, 0.3, 0.5) == ("a",)  # one half is supported
    assert carrying((), 0.3, 0.9) == ()


def test_a_supported_sentence_without_a_share_above_min_share_cites_its_top_chunk(tiny_attributor, monkeypatch):
    import rag_attrib.attribute as attribute_module
    from rag_attrib import Attributor
    from rag_attrib.types import Citation
    from rag_attrib.verification import verify

    def fixed_citations(relevance, ids, spans, mask):  # "1" leads, no chunk reaches min_share
        return (Citation("1", 2.0, 0.2), Citation("2", 1.0, 0.1)), 0.3

    monkeypatch.setattr(attribute_module, "sentence_citations", fixed_citations)

    class Support(SupportModel):
        def __call__(self, signals):
            return 0.9 if signals["tokens"] > 4 else 0.1

    chunks = ["Harald Voss built the lighthouse.", "Mira Tollan runs the bakery."]
    attributor = Attributor(tiny_attributor.model, tiny_attributor.tokenizer, min_share=0.5, evidence="cited",
                            support=Support(("best_share",), (1.0,), 0.0, (0.0,), (1.0,)))
    answer = "Harald Voss built the lighthouse of the town. Old."
    supported, unsupported = attributor.attribute("Who built it?", chunks, answer).sentences
    assert supported.support == 0.9 and supported.cited == ("1",) and supported.citations[0].evidence
    assert unsupported.support == 0.1 and unsupported.cited == ()
    verdicts = verify(attributor, "Who built it?", chunks, "Harald Voss built the lighthouse of the town [2]. Old.")
    assert [(v.verdict, v.attributed) for v in verdicts.sentences] == [("miscited", ("1",)), ("ungrounded", ())]


def test_named_models_bring_their_support_model(monkeypatch, tiny_attributor):
    import rag_attrib.model as model_module
    from rag_attrib import Attributor
    from rag_attrib.support import ByChunkLength, SupportModel

    qwen = model_module.default_support("qwen2.5-0.5b")
    assert model_module.default_support(None) is qwen and isinstance(qwen, ByChunkLength)
    for name in ("qwen2.5-0.5b", "qwen2.5-1.5b", "smollm2"):
        support, parts = model_module.default_support(name), model_module.calibration(name)["support"]
        assert support.long == SupportModel.from_dict(parts["long"]["fit"]) and support.long_words == parts["long"]["words"]
        assert support.short_words == parts["short"]["words"]
    assert model_module.default_support("qwen2.5-1.5b").short is not None
    assert model_module.default_support("smollm2").short is None  # its shares decide on short chunks
    assert model_module.default_support("gemma3-270m") is None and model_module.default_support("a/folder") is None
    monkeypatch.setattr(model_module, "load_model", lambda name=None, **kw: (tiny_attributor.model,
                                                                            tiny_attributor.tokenizer))
    assert Attributor.load().support is qwen
    assert Attributor.load(support=None).support is None  # the caller turns it off
    assert Attributor.load("smollm2").support is model_module.default_support("smollm2")
    assert Attributor.load("gemma3-270m").support is None


ROOT = Path(__file__).parents[1]
HELD_OUT = {"realistic-dev": ["realistic-test"], "short-dev": ["fictional", "paraphrase", "realistic-test"],
            "families-dev": ["families-test"]}
SHIPPED_FITS = [(path.stem, key, part) for path in sorted((ROOT / "rag_attrib/calibration").glob("*.json"))
                for key, fits in json.loads(path.read_text()).items() if key.startswith("support")
                for part, calibrated in fits.items() if part != "judge" and calibrated["fit"]]


def test_every_calibrated_fit_is_checked():
    assert sorted(SHIPPED_FITS) == [
        ("qwen2.5-0.5b", "support", "long"), ("qwen2.5-0.5b", "support", "short"),
        ("qwen2.5-0.5b", "support_judged", "long"), ("qwen2.5-1.5b", "support", "long"),
        ("qwen2.5-1.5b", "support", "short"), ("smollm2", "support", "long")]


@pytest.mark.parametrize("model, key, part", SHIPPED_FITS)
def test_the_shipped_support_model_is_fitted_on_the_dev_split_only(model, key, part):
    """The calibration's dev/test separation: each shipped support model is refitted here from the dev features
    its calibration file names (benchmarks/support/), and no case of those features is in a held-out set."""
    from rag_attrib.eval import load_many
    from rag_attrib.model import OFFLINE, calibration, default_support

    judge = calibration(model)[key].get("judge")
    fit = calibration(model)[key][part]["fit"]
    shipped = getattr(default_support(model, judge=judge), part)
    assert shipped == SupportModel.from_dict(fit)
    dump = json.loads((ROOT / fit["features"]).read_text())
    assert dump["model"] == OFFLINE[model].title == calibration(model)["model"]
    assert dump.get("judge") == (OFFLINE[judge].title if judge else None)  # its answers are the ones it reads
    assert ("judge" in shipped.names) == bool(judge)
    cases = {r["case"] for r in dump["rows"]}
    assert dump["data"] == fit["dev"]
    assert cases == {c.id for c in load_many(fit["dev"])}
    assert not cases & {c.id for dev in fit["dev"] for c in load_many(HELD_OUT[dev])}
    names = list(shipped.names)
    x = torch.tensor([[r["features"][n] for n in names] for r in dump["rows"]], dtype=torch.float64)
    y = torch.tensor([1.0 if r["gold"] else 0.0 for r in dump["rows"]], dtype=torch.float64)
    refitted = fit_logistic(x, y, names)
    assert all(w > 0 for w in shipped.weights)  # each signal counts for support, never against (fit_support.py)
    assert refitted.weights == pytest.approx(shipped.weights, abs=1e-9)
    assert refitted.bias == pytest.approx(shipped.bias, abs=1e-9)
    assert refitted.means == pytest.approx(shipped.means) and refitted.scales == pytest.approx(shipped.scales)


def _script(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("key, part", [("support", "short"), ("support_judged", "long")])
def test_fit_support_writes_its_fit_into_the_calibration_file(monkeypatch, tmp_path, key, part):
    """``fit_support.py --calibration-out`` writes the fit that the shipped file holds, with its provenance (and
    the judge whose answers it reads), and keeps the file's other values."""
    from rag_attrib.model import CALIBRATION_DIR, calibration

    fit_support = _script("fit_support")
    shipped = calibration("qwen2.5-0.5b")
    out = tmp_path / "qwen.json"
    out.write_text((CALIBRATION_DIR / "qwen2.5-0.5b.json").read_text())
    features = tmp_path / "features.json"
    names = [n.removeprefix("rel_") for n in shipped[key][part]["fit"]["names"] if n != "judge"]  # it adds these
    monkeypatch.setattr(fit_support, "CANDIDATES", [names])  # its choice, quickly
    argv = ["fit_support.py", "--dev", str(ROOT / shipped[key][part]["fit"]["features"]),
            "--features-out", str(features), "--calibration-out", str(out)]
    monkeypatch.setattr("sys.argv", argv)
    fit_support.main()
    written = json.loads(out.read_text())
    assert {k: v for k, v in written.items() if k != key} == {k: v for k, v in shipped.items() if k != key}
    assert {p: v for p, v in written[key].items() if p != part} == {p: v for p, v in shipped[key].items() if p != part}
    fitted, fit = written[key][part], written[key][part]["fit"]
    assert fitted["words"] == shipped[key][part]["words"]
    for name in ("weights", "bias", "means", "scales"):
        assert fit[name] == pytest.approx(shipped[key][part]["fit"][name], abs=1e-9)
    assert fit["names"] == shipped[key][part]["fit"]["names"]
    assert fit["dev"] == shipped[key][part]["fit"]["dev"] and fit["features"] == str(features)
    assert fit["command"].startswith("python fit_support.py --dev ") and len(fit["date"]) == 10
    assert json.loads(features.read_text()).get("judge") == json.loads(
        (ROOT / shipped[key][part]["fit"]["features"]).read_text()).get("judge")  # its features name the judge
    monkeypatch.setattr("sys.argv", argv[:3] + argv[5:])
    with pytest.raises(SystemExit):  # a shipped fit needs the dev features a test refits it from
        fit_support.main()


def test_choose_threshold_writes_min_share_into_the_calibration_file(monkeypatch, tmp_path):
    choose_threshold = _script("choose_threshold")
    rows = [{"gold": [0], "n_chunks": 2, "shares": [share, 0.1]} for share in (0.5, 0.6, 0.7)]
    rows += [{"gold": [], "n_chunks": 2, "shares": [share, 0.1]} for share in (0.1, 0.2)]
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps({"model": "M", "target": "token", "data": ["realistic-dev"], "rows": rows}))
    out = tmp_path / "m.json"
    monkeypatch.setattr("sys.argv", ["choose_threshold.py", str(dump), "--calibration-out", str(out)])
    choose_threshold.main()
    written = json.loads(out.read_text())
    assert written["model"] == "M" and written["min_share"]["dev"] == ["realistic-dev"]
    assert 0.2 < written["min_share"]["value"] <= 0.5  # flags both unsupported sentences, no supported one
    dump.write_text(json.dumps({"model": "Other", "target": "token", "data": ["realistic-dev"], "rows": rows}))
    with pytest.raises(InvalidInputError, match="calibration of 'M'"):  # one file per model
        choose_threshold.main()


def test_each_fit_decides_on_chunks_like_those_of_its_dev_set():
    """Each fit holds over its dev set's range of chunk lengths; in the gap between, their log-odds mix."""
    import math

    from rag_attrib.eval import load_many
    from rag_attrib.model import default_support
    from rag_attrib.support import ByChunkLength, mean_words

    def lengths(name):
        return [mean_words([c.text for c in case.chunks]) for case in load_many([name])]

    for both in map(default_support, ("qwen2.5-0.5b", "qwen2.5-1.5b", "smollm2")):
        assert both.short_words == pytest.approx(max(lengths("short-dev")), abs=0.05)
        assert both.long_words == pytest.approx(min(lengths("realistic-dev")), abs=0.05)
        for name in ("short-dev", "fictional", "paraphrase", "realistic-dev", "realistic-test"):
            # every shipped set lies wholly in one fit's range, so its figures are that fit's alone
            assert len({both.long_weight(words) for words in lengths(name)}) == 1, name
    short = SupportModel(("best_share",), (1.0,), -1.0, (0.0,), (1.0,))  # log-odds: share - 1
    long = SupportModel(("best_share",), (1.0,), 1.0, (0.0,), (1.0,))  # share + 1
    both = ByChunkLength(short, long, short_words=10.0, long_words=40.0)
    signals = {"shares": [0.5], "grounding": 0.5, "tokens": 2, "lp_all": -1.0, "lp_none": -2.0, "lp_without_tops": -2.0}
    assert both({**signals, "chunk_words": 10.0}) == short(signals) and both({**signals, "chunk_words": 40.0}) == long(signals)
    assert both.long_weight(20.0) == pytest.approx(0.5)  # halfway in log(words)
    assert both({**signals, "chunk_words": 20.0}) == pytest.approx(1 / (1 + math.exp(-0.5)))  # (-0.5 + 1.5) / 2
    shares_below = ByChunkLength(None, long, short_words=10.0, long_words=40.0)  # the shares decide below 40 words
    assert shares_below({**signals, "chunk_words": 39.9}) is None and not shares_below.decides(39.9)
    assert shares_below.decides(40.0) and both.decides(1.0)
    assert shares_below({**signals, "chunk_words": 40.0}) == long(signals)
    with pytest.raises(KeyError, match="chunk_words"):
        both(signals)
    with pytest.raises(ValueError, match="short_words <= long_words"):
        ByChunkLength(short, long, short_words=50.0, long_words=40.0)
    huge = {**signals, "shares": [-1e6], "chunk_words": 20.0}  # far out: the mixed sigmoid must not overflow
    assert both(huge) == pytest.approx(0.0, abs=1e-12)


def test_fit_support_holds_whole_families_out_where_the_dev_rows_span_several():
    """Each family's probabilities come from a fit on the other families alone, as the transfer test asks."""
    fit_support = _script("fit_support")
    generator = torch.Generator().manual_seed(0)
    rows = [{"case": f"{family}-{i // 2}", "family": family, "gold": [1] if i % 2 else [],
             "features": {"best_share": float(torch.rand((), generator=generator)) + (i % 2)}}
            for family in ("apache2", "cmake", "golang") for i in range(8)]
    predicted = fit_support.cross_validated(rows, ["best_share"], group="family")
    for family in ("apache2", "cmake", "golang"):
        others = [r for r in rows if r["family"] != family]
        held = [i for i, r in enumerate(rows) if r["family"] == family]
        alone = fit_logistic(*fit_support.matrix(others, ["best_share"]), ["best_share"])
        x = fit_support.matrix([rows[i] for i in held], ["best_share"])[0]
        assert predicted[held].tolist() == pytest.approx(alone.probability(x).tolist(), abs=1e-12)
    by_case = fit_support.cross_validated(rows, ["best_share"])
    assert not torch.allclose(by_case, predicted)  # a case left out is not a family left out
