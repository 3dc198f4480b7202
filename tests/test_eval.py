"""rag_attrib.eval: metrics against hand-computed values, every method's contract, the harness and the CLI.

Fast tests run on the tiny random Llama with the byte tokenizer; one slow test runs the harness on three
shipped cases with the embedded SmolLM2-135M.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pytest
import torch

from rag_attrib.eval import (
    DEFAULT_METHODS,
    METHODS,
    EvalDataError,
    MethodOutput,
    load_cases,
    load_many,
    method,
    prepare,
    resolve_methods,
    run_eval,
    sentence_logprobs,
    to_markdown,
)
from rag_attrib.eval import metrics as M
from rag_attrib.eval.data import UNSUPPORTED_KINDS, parse_case
from rag_attrib.eval.methods import count_forwards, unigram_f1
from rag_attrib.eval.table import caption
from rag_attrib.prompt import render_rag_prompt
from rag_attrib.text import split_sentences

CASE = {
    "id": "toy",
    "question": "Who built the tower?",
    "chunks": [
        {"id": "tower", "text": "The tower was built by Ada."},
        {"id": "mill", "text": "The mill grinds corn."},
        {"id": "bell", "text": "The bell rings at noon."},
    ],
    "answer": [{"text": "Ada built it.", "gold": "tower"}, {"text": "It is tall.", "gold": None}],
}


@pytest.fixture
def case():
    return parse_case(CASE, "toy")


# ------------------------------------------------------------------------------------------------ metrics


def test_hit_at_1_and_reciprocal_rank_by_hand():
    assert M.expected_hit_at_1([0.1, 0.5, 0.3], [1]) == 1.0
    assert M.expected_hit_at_1([0.1, 0.5, 0.3], [2]) == 0.0
    assert M.expected_reciprocal_rank([0.1, 0.5, 0.3], [2]) == 0.5
    assert M.expected_reciprocal_rank([0.1, 0.5, 0.3], [0]) == pytest.approx(1 / 3)
    # ties count by their expectation under a random order of the tied chunks
    assert M.expected_hit_at_1([1.0, 1.0, 0.0], [0]) == 0.5
    assert M.expected_reciprocal_rank([1.0, 1.0, 0.0], [0]) == pytest.approx((1 + 1 / 2) / 2)
    assert M.expected_hit_at_1([0.0, 0.0, 0.0, 0.0], [3]) == 0.25
    assert M.expected_reciprocal_rank([0.0] * 4, [3]) == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 4) / 4)
    # two gold chunks tied with a third: the first gold is 1st with p 2/3, 2nd with p 1/3
    assert M.expected_hit_at_1([1.0, 1.0, 1.0], [0, 1]) == pytest.approx(2 / 3)
    assert M.expected_reciprocal_rank([1.0, 1.0, 1.0], [0, 1]) == pytest.approx(2 / 3 + 1 / 3 / 2)
    # a tie below a strictly better non-gold chunk
    assert M.expected_reciprocal_rank([2.0, 1.0, 1.0], [2]) == pytest.approx((1 / 2 + 1 / 3) / 2)


def test_ranking_breaks_ties_with_the_fixed_keys():
    assert M.ranking([0.2, 0.9, 0.2, 0.5], [0.0, 0.0, 0.1, 0.0]) == [1, 3, 0, 2]
    assert M.ranking([0.2, 0.9, 0.2, 0.5], [0.5, 0.0, 0.1, 0.0]) == [1, 3, 2, 0]
    assert M.tie_break_keys(4, 7) == M.tie_break_keys(4, 7) != M.tie_break_keys(4, 8)


def test_ablation_drops_by_hand():
    # an additive toy "model": a sentence's log-prob is -10 plus the weight of each chunk kept in the prompt
    weights = torch.tensor([[3.0, 1.0, 0.5, 2.0], [0.0, 4.0, 0.0, 1.0]], dtype=torch.float64)
    calls = []

    def logprobs(kept):
        calls.append(kept)
        return -10 + weights[:, sorted(kept)].sum(1)

    base = logprobs(frozenset(range(4)))
    scores = torch.tensor([[0.9, 0.1, 0.2, 0.5], [0.3, 0.8, 0.1, 0.6]], dtype=torch.float64)
    drops = M.ablation_drops(scores, base, logprobs, (1, 2), tie_break=[0.0] * 4)
    # sentence 0 ranks chunks 0, 3, 2, 1; sentence 1 ranks 1, 3, 0, 2
    assert drops["comp@1"] == [3.0, 4.0]  # the weight of the removed top chunk
    assert drops["comp@2"] == [5.0, 5.0]
    assert drops["suff@1"] == [1.0 + 0.5 + 2.0, 0.0 + 0.0 + 1.0]  # the weight of everything removed
    assert drops["suff@2"] == [1.5, 0.0]
    # a method that ranks the chunks exactly by weight gets the largest comp and the smallest suff
    best = M.ablation_drops(weights, base, logprobs, (1,), tie_break=[0.0] * 4)
    assert best["comp@1"] == [3.0, 4.0] and best["suff@1"] == [3.5, 1.0]


def test_flagging_auroc_and_mean():
    shares = torch.tensor([[0.5, 0.1], [0.2, 0.26], [0.27, 0.0]])
    assert M.flagged(shares, 0.27) == [False, True, False]
    assert M.auroc([0.9, 0.4], [0.5, 0.1]) == 0.75  # 3 of 4 pairs ordered
    assert M.auroc([0.5], [0.5]) == 0.5
    assert M.auroc([0.5], []) is None
    assert M.mean([]) is None and M.mean([1.0, 2.0]) == 1.5
    assert M.support_signal(torch.tensor([[1.0, 3.0]]), None) == [3.0]
    assert M.support_signal(torch.tensor([[1.0, 3.0]]), torch.tensor([[0.6, 0.1]])) == [pytest.approx(0.6)]


def test_bad_scores_are_refused():
    with pytest.raises(ValueError, match=r"expected \(2, 3\)"):
        M.as_matrix(torch.zeros(3, 2), 2, 3, "m")
    with pytest.raises(ValueError, match="non-finite"):
        M.as_matrix(torch.tensor([[float("nan")]]), 1, 1, "m")


# ------------------------------------------------------------------------------------------------ data


@pytest.mark.parametrize("name, n", [("fictional", (20, 30)), ("paraphrase", (8, 15))])
def test_the_shipped_data_sets(name, n):
    cases = load_cases(name)
    assert n[0] <= len(cases) <= n[1] and {c.source for c in cases} == {name}
    unsupported = 0
    for c in cases:
        assert 4 <= len(c.chunks) <= 6 and 1 <= len(c.sentences) <= 3
        for i, s in enumerate(c.sentences):
            assert c.spans[i].of(c.answer) == s.text
            assert len(c.gold_indices(i)) == (1 if s.supported else 0)
            unsupported += not s.supported
    assert unsupported >= 5
    assert len(load_cases(name, limit=3)) == 3


@pytest.mark.parametrize("name", ["fictional", "paraphrase", "realistic-dev", "realistic-test"])
def test_evidence_is_labelled_wherever_the_gold_chunk_has_more_than_one_sentence(name):
    """A one-sentence chunk is its own evidence; every other gold chunk says which of its sentences carry the claim."""
    for c in load_cases(name):
        texts = {chunk.id: chunk.text for chunk in c.chunks}
        for s in c.sentences:
            for gold in s.gold:
                if len(split_sentences(texts[gold])) > 1:
                    assert s.evidence and s.evidence.get(gold), f"{c.id}: {s.text!r} has no evidence in {gold!r}"
    # the default: every shipped set, the realistic set and the documentation families by their dev splits only
    assert {c.source for c in load_many(None)} == {"fictional", "paraphrase", "short-dev", "realistic-dev",
                                                   "families-dev"}


def test_the_short_dev_set_is_a_dev_split_apart_from_the_invented_test_sets():
    """``short-dev`` may be used for choices, so nothing of it may be in ``fictional`` or ``paraphrase``."""
    cases = load_cases("short-dev")
    assert len(cases) == 40 and {c.split for c in cases} == {"dev"}
    sentences = [s for c in cases for s in c.sentences]
    unsupported = [s for s in sentences if not s.supported]
    assert len(unsupported) >= 0.25 * len(sentences) and {s.kind for s in unsupported} == set(UNSUPPORTED_KINDS)
    assert sum(len(s.gold) > 1 for s in sentences) >= 0.1 * (len(sentences) - len(unsupported))
    for c in cases:
        assert all(len(ch.text.split()) <= 40 for ch in c.chunks)
        assert [sp.of(c.answer) for sp in split_sentences(c.answer)] == [s.text for s in c.sentences]
    assert [c.style for c in cases[:2]] == ["copy", "paraphrase"] and {c.style for c in cases} == {"copy", "paraphrase"}
    with pytest.raises(ValueError, match='"style" must be one of'):
        parse_case(dict(CASE, style="loose"))
    held_out = load_cases("fictional") + load_cases("paraphrase")
    assert not {c.id for c in cases} & {c.id for c in held_out}
    assert not {ch.text for c in cases for ch in c.chunks} & {ch.text for c in held_out for ch in c.chunks}
    assert not _full_names(cases) & _full_names(held_out)  # no invented person, place or thing in both


def _full_names(cases) -> set[str]:
    """Every two capitalised words in a row ("Josiah Crane", "Black Heron"; "When Josiah Crane" gives both of
    its pairs) in every text of ``cases``."""
    texts = [t for c in cases for t in (c.question, *(ch.text for ch in c.chunks), *(s.text for s in c.sentences))]
    return {name for t in texts for name in re.findall(r"(?=\b([A-Z][a-z]+ [A-Z][a-z]+))", t)}


def test_bad_data_names_the_line(tmp_path: Path):
    path = tmp_path / "bad.jsonl"
    bad = dict(CASE, answer=[{"text": "x.", "gold": "nowhere"}])
    path.write_text(json.dumps(CASE) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(EvalDataError, match="line 2.*names no chunk"):
        load_cases(path)
    with pytest.raises(EvalDataError, match="does not exist"):
        load_cases(tmp_path / "missing.jsonl")


# ------------------------------------------------------------------------------------------------ methods


@pytest.mark.parametrize("name", ["attnlrp", "gradxinput", "attention", "lexical", "random", "loo"])
def test_every_method_gives_one_score_per_sentence_and_chunk(name, tiny_attributor, case):
    prepared = prepare(tiny_attributor, case)
    attn = tiny_attributor.model.config._attn_implementation
    out = METHODS[name](tiny_attributor, prepared)
    assert tuple(out.scores.shape) == (2, 3) and torch.isfinite(out.scores).all()
    if out.shares is not None:
        assert tuple(out.shares.shape) == (2, 3) and (out.shares >= 0).all() and (out.shares <= 1).all()
    assert tiny_attributor.model.config._attn_implementation == attn  # the attention method restores it


def test_random_is_seeded(tiny_attributor, case):
    a = METHODS["random"](tiny_attributor, prepare(tiny_attributor, case, seed=1)).scores
    b = METHODS["random"](tiny_attributor, prepare(tiny_attributor, case, seed=1)).scores
    c = METHODS["random"](tiny_attributor, prepare(tiny_attributor, case, seed=2)).scores
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_leave_one_out_uses_one_forward_per_chunk_plus_one(tiny_attributor, case):
    prepared = prepare(tiny_attributor, case)
    with count_forwards(tiny_attributor.model) as counter:
        out = METHODS["loo"](tiny_attributor, prepared)
    assert counter.count == prepared.n_chunks + 1 == 4
    full = sentence_logprobs(tiny_attributor, case, [0, 1, 2])
    assert torch.allclose(out.scores[:, 1], full - sentence_logprobs(tiny_attributor, case, [0, 2]))


def reference_logprobs(attributor, case, keep):
    """Sentence log-probs computed from scratch: full logits, float64, nothing shared with the package."""
    tok = attributor.tokenizer
    prompt = render_rag_prompt(tok, case.question, [case.chunks[i] for i in keep], attributor.system_prompt).text
    prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    out = []
    for i, s in enumerate(case.sentences):
        before = case.answer[: case.spans[i].start]
        ids_before = tok(before, add_special_tokens=False)["input_ids"] if before else []
        ids_with = tok(case.answer[: case.spans[i].end], add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prompt_ids + ids_with])
        with torch.no_grad():
            logp = torch.log_softmax(attributor.model(ids).logits[0].double(), -1)
        start = len(prompt_ids) + len(ids_before)
        out.append(sum(float(logp[t - 1, ids[0, t]]) for t in range(start, ids.shape[1])))
    return torch.tensor(out, dtype=torch.float64)


def test_faithfulness_is_the_log_prob_drop_computed_independently(tiny_attributor, case):
    for keep in ([0, 1, 2], [1, 2], [0]):
        assert torch.allclose(sentence_logprobs(tiny_attributor, case, keep), reference_logprobs(tiny_attributor, case, keep),
                              atol=1e-6)
    report = run_eval(tiny_attributor, [case], ["lexical"], ks=(1,))
    full = reference_logprobs(tiny_attributor, case, [0, 1, 2])
    # lexical ranks "tower" first for "Ada built it." (the only chunk sharing a word)
    first = report["records"][0]["methods"]["lexical"]
    assert first["comp@1"] == pytest.approx(float(full[0] - reference_logprobs(tiny_attributor, case, [1, 2])[0]), abs=1e-6)
    assert first["suff@1"] == pytest.approx(float(full[0] - reference_logprobs(tiny_attributor, case, [0])[0]), abs=1e-6)


def test_gradxinput_is_the_plain_gradient_not_lrp(tiny_attributor, case):
    prepared = prepare(tiny_attributor, case)
    g = METHODS["gradxinput"](tiny_attributor, prepared)
    lrp = METHODS["attnlrp"](tiny_attributor, prepared)
    assert not torch.allclose(g.scores, lrp.scores)
    # independent: the gradient of sentence 0's summed answer-token logits at the input embeddings
    model, ids = tiny_attributor.model, prepared.input_ids
    embeds = model.get_input_embeddings()(ids[None]).detach().requires_grad_(True)
    logits = model(inputs_embeds=embeds).logits[0]
    a, b = prepared.sentence_tokens[0]
    target = sum(logits[t - 1, ids[t]] for t in range(a, b))
    (grad,) = torch.autograd.grad(target, embeds)
    relevance = (grad[0] * embeds[0]).sum(-1).detach()
    for j, (ca, cb) in enumerate(prepared.chunk_tokens):
        assert float(g.scores[0, j]) == pytest.approx(float(relevance[ca:cb].sum()), rel=1e-6, abs=1e-9)


def test_every_method_leaves_the_citation_markers_out_of_the_target_as_attribute_does(tiny_attributor):
    """An answer with markers: the harness encodes it as Attributor does, so gradient x input, attention and
    leave-one-out explain the same target as attnlrp. A marker at the very end changes nothing before it: [1] and
    [3] give the same scores. (ContextCite scores character spans its own way: it still reads them.)"""
    one, three = (parse_case({**CASE, "answer": [{"text": f"Ada built it [{k}]", "gold": "tower"}]}, "toy")
                  for k in (1, 3))
    first, third = prepare(tiny_attributor, one), prepare(tiny_attributor, three)
    assert first.relative_skip() == list(range(len("Ada built it "), len("Ada built it [1]")))  # a byte a token
    for name in ("attnlrp", "gradxinput", "attention", "loo"):
        scores = METHODS[name](tiny_attributor, first).scores
        assert torch.allclose(scores, METHODS[name](tiny_attributor, third).scores, atol=1e-9), name
    assert torch.allclose(sentence_logprobs(tiny_attributor, one, [1, 2]), sentence_logprobs(tiny_attributor, three, [1, 2]))


def test_lexical_overlap_by_hand():
    assert unigram_f1("Ada built it.", "The tower was built by Ada.") == pytest.approx(2 * 1 * 2 / 3 / (1 + 2 / 3))
    assert unigram_f1("It is tall.", "The mill grinds corn.") == 0.0


# ------------------------------------------------------------------------------------------------ harness


def test_run_eval_report_and_a_method_added_in_a_few_lines(tiny_attributor, case):
    @method("first_chunk", "always the first chunk")
    def first_chunk(attributor, prepared):
        scores = torch.zeros(prepared.n_sentences, prepared.n_chunks)
        scores[:, 0] = 1
        return MethodOutput(scores)

    try:
        report = run_eval(tiny_attributor, [case], ["first_chunk", "random", "attnlrp"], ks=(1, 2))
    finally:
        del METHODS["first_chunk"]
    assert report["sentences"] == 2 and report["supported"] == 1 and report["unsupported"] == 1
    first = report["methods"]["first_chunk"]
    assert first["hit@1"] == 1.0 and first["mrr"] == 1.0 and first["flagged_unsupported"] is None
    assert first["forwards_per_answer"] == 0 and first["seconds_per_answer"] >= 0
    lrp = report["methods"]["attnlrp"]
    assert lrp["forwards_per_answer"] == 1 and lrp["backwards_per_answer"] == 2
    assert lrp["flagged_unsupported"] in (0.0, 1.0) and lrp["auroc_unsupported"] in (0.0, 0.5, 1.0)
    assert set(report["methods"]) == {"first_chunk", "random", "attnlrp"}
    json.dumps(report)  # JSON-serialisable as it is
    assert to_markdown(report).splitlines()[0].startswith(
        "| method | hit@1 | MRR | evid@1 | top 1st | top mid | top last | comp@1 | comp@2 | suff@1"
    )


def test_the_table_is_printed_whole_to_a_file_or_a_pipe(tiny_attributor, case):
    import io

    from rich.console import Console

    from rag_attrib.eval import print_table

    report = run_eval(tiny_attributor, [case], ["lexical", "attnlrp"], ks=(1, 2, 3))
    out = io.StringIO()
    print_table(report, Console(file=out, width=80))  # not a terminal: 80 columns would cut every header
    shown = out.getvalue()
    assert "…" not in shown and "suff@3" in shown and "flag sup" in shown and "bwd" in shown


def test_one_table_per_data_set_and_one_for_all(tiny_attributor, case):
    other = parse_case(CASE, "elsewhere")  # the same case (and id, so the same tie-breaking) elsewhere
    report = run_eval(tiny_attributor, [case, other], ["lexical", "random"], ks=(1,))
    assert report["data"] == ["toy", "elsewhere"] and report["cases"] == 2
    assert {src: part["cases"] for src, part in report["by_source"].items()} == {"toy": 1, "elsewhere": 1}
    # the same case twice: each data set's numbers equal the overall ones
    assert report["by_source"]["toy"]["methods"]["lexical"]["comp@1"] == report["methods"]["lexical"]["comp@1"]
    markdown = to_markdown(report)
    assert markdown.count("| method |") == 3 and "data: elsewhere (1 answer)" in markdown


def test_unknown_and_unavailable_methods():
    with pytest.raises(ValueError, match="unknown methods"):
        resolve_methods(["nope"])
    names, skipped = resolve_methods(None)
    assert set(names) | set(skipped) == set(DEFAULT_METHODS)
    from rag_attrib.eval import embedding

    try:
        import context_cite  # noqa: F401
    except ImportError:
        assert set(skipped) - {"embedding"} == {"contextcite", "contextcite16"}
        assert "pip install context-cite" in skipped["contextcite"]
    assert ("embedding" in skipped) == (embedding.unavailable() is not None)


def test_contextcite_on_the_tiny_model(tiny_attributor, case):
    from rag_attrib.eval.contextcite import contextcite_scores, unavailable

    if unavailable():
        pytest.skip(unavailable())
    prepared = prepare(tiny_attributor, case)
    pad = tiny_attributor.tokenizer.pad_token
    with count_forwards(tiny_attributor.model) as counter:
        scores = contextcite_scores(tiny_attributor, prepared, num_ablations=6)
    assert tuple(scores.shape) == (2, 3) and counter.count == 6
    assert tiny_attributor.tokenizer.pad_token == pad


def test_cli_eval(tmp_path: Path, monkeypatch, capsys, tiny_attributor):
    from rag_attrib import cli

    data = tmp_path / "cases.jsonl"
    data.write_text(json.dumps(CASE) + "\n" + json.dumps(dict(CASE, id="toy2")) + "\n")
    monkeypatch.setattr("rag_attrib.cli.eval.load_attributor", lambda model, stderr, support=True, **_: tiny_attributor)
    out = tmp_path / "report.json"
    argv = ["eval", "--data", str(data), "--methods", "lexical,random,loo", "--json", str(out), "--limit", "1",
            "--k", "1,2"]
    assert cli.main(argv) == 0
    report = json.loads(out.read_text())
    assert report["cases"] == 1 and list(report["methods"]) == ["lexical", "random", "loo"] and report["ks"] == [1, 2]
    assert report["methods"]["loo"]["forwards_per_answer"] == 4
    printed = capsys.readouterr().out
    assert "comp@2" in printed and "loo" in printed and str(out.resolve()) in printed.replace("\n", "")
    assert cli.main(["eval", "--methods", "nope"]) == 2
    assert "unknown methods" in capsys.readouterr().err
    # a method the loaded model cannot run is refused once it is loaded, before any case runs
    assert cli.main(["eval", "--data", str(data), "--methods", "support", "--json", str(out)]) == 2
    assert "has no fitted support model" in capsys.readouterr().err


def _without_costs(report: dict) -> dict:
    """The report less what depends on the clock and the run (time, the machine, how many answers resumed)."""
    kept = {k: v for k, v in report.items() if k not in ("environment", "resumed", "methods", "by_source")}
    kept["methods"] = {name: {k: v for k, v in row.items() if "seconds" not in k}
                       for name, row in report["methods"].items()}
    return kept


def test_a_stopped_eval_goes_on_where_it_stopped_and_gives_the_same_report(tmp_path, monkeypatch, capsys,
                                                                          tiny_attributor):
    from rag_attrib import cli
    from rag_attrib.eval import run

    data = tmp_path / "cases.jsonl"
    data.write_text("".join(json.dumps(dict(CASE, id=f"toy{i}")) + "\n" for i in range(3)))
    monkeypatch.setattr("rag_attrib.cli.eval.load_attributor", lambda model, stderr, support=True, **_: tiny_attributor)
    out = tmp_path / "report.json"
    argv = ["eval", "--data", str(data), "--methods", "lexical,attnlrp", "--json", str(out), "--k", "1"]
    assert cli.main(argv) == 0
    whole = json.loads(out.read_text())
    assert whole["resumed"] == 0 and not Path(f"{out}.partial.jsonl").exists()  # removed once the report is written

    ran, stopped, real = [], [], run.eval_case

    def stops_at_the_third(attributor, case, *rest):
        if case.id == "toy2" and not stopped:
            stopped.append(case.id)
            raise KeyboardInterrupt
        ran.append(case.id)
        return real(attributor, case, *rest)

    monkeypatch.setattr(run, "eval_case", stops_at_the_third)
    out.unlink()
    assert cli.main(argv) == 130  # Ctrl-C
    assert ran == ["toy0", "toy1"] and not out.exists()
    assert "kept 2 answers of 3 in" in capsys.readouterr().err.replace("\n", "")
    # the partial file holds a header and two answers; a third line torn by the kill is dropped, not read
    with open(f"{out}.partial.jsonl", "a") as f:
        f.write('{"case": "toy2", "sour')
    capsys.readouterr()
    assert cli.main([*argv, "--model", "default"]) == 0  # the same model, named
    assert ran == ["toy0", "toy1", "toy2"]  # only the missing answer ran again
    assert "going on from 2 answers already done" in capsys.readouterr().err
    resumed = json.loads(out.read_text())
    assert resumed["resumed"] == 2 and "2 answers (and their seconds) from an earlier, stopped run" in caption(resumed)
    assert _without_costs(resumed) == _without_costs(whole)


def test_an_eval_checkpoint_of_other_settings_is_refused_and_restart_discards_it(tmp_path, monkeypatch, capsys,
                                                                                tiny_attributor):
    from rag_attrib import cli
    from rag_attrib.eval import run
    from rag_attrib.eval.checkpoint import Checkpoint

    data = tmp_path / "cases.jsonl"
    data.write_text(json.dumps(CASE) + "\n" + json.dumps(dict(CASE, id="toy2")) + "\n")
    loaded = []
    monkeypatch.setattr("rag_attrib.cli.eval.load_attributor", lambda model, stderr, support=True, **_: loaded.append(model) or tiny_attributor)
    out = tmp_path / "report.json"
    argv = ["eval", "--data", str(data), "--methods", "lexical", "--json", str(out), "--k", "1"]
    # a run stopped after one answer, then the same command with other --k, or with another --model
    real = run.eval_case
    with monkeypatch.context() as m:
        m.setattr(run, "eval_case", lambda a, case, *rest: real(a, case, *rest) if case.id == "toy" else (
            _ for _ in ()).throw(KeyboardInterrupt))
        assert cli.main(argv) == 130 and loaded == [None]
    told = {"--k": "--k: [1] then, [2] now", "--model": '--model: "qwen2.5-0.5b" then, "smollm2" now',
            "--judge": '--judge: none then, "qwen2.5-1.5b" now'}
    for other in (["--k", "2"], ["--model", "smollm2"], ["--judge", "qwen2.5-1.5b"]):
        assert cli.main([*argv, *other]) == 2
        err = capsys.readouterr().err.replace("\n", "")
        assert "holds 1 answer of an earlier run with other settings" in err and "--restart" in err
        assert told[other[0]] in err
    assert loaded == [None]  # refused before the model loads
    assert len(Path(f"{out}.partial.jsonl").read_text().splitlines()) == 2  # nothing of it lost
    assert cli.main([*argv, "--k", "2", "--restart"]) == 0
    assert json.loads(out.read_text())["cases"] == 2 and not Path(f"{out}.partial.jsonl").exists()
    # and a checkpoint whose settings differ in what only the loaded model tells is refused once it is loaded
    Checkpoint(f"{out}.partial.jsonl", {})({"case": "toy", "source": "cases.jsonl", "records": []})
    with pytest.raises(EvalDataError, match="other settings .*(model|target)"):
        Checkpoint(f"{out}.partial.jsonl", {"model": "another", "target": "token"})


def test_an_eval_checkpoint_keeps_only_whole_answers_and_an_empty_one_blocks_nothing(tmp_path):
    from rag_attrib.eval.checkpoint import Checkpoint

    path = tmp_path / "r.json.partial.jsonl"
    answer = {"case": "a", "source": "s", "records": [1]}
    first = Checkpoint(path, {"methods": ["lexical"]})
    assert not path.exists()  # nothing written before the first answer is done
    first(answer)
    first({**answer, "case": "b"})
    whole = path.read_text()
    # a kill between an answer's text and its newline: the unterminated line is dropped, the rest kept
    path.write_text(whole + json.dumps({**answer, "case": "c"}))
    again = Checkpoint(path, {"methods": ["lexical"]})
    assert sorted(again.finished) == [("s", "a"), ("s", "b")] and path.read_text() == whole
    again({**answer, "case": "c"})
    assert sorted(Checkpoint(path, {"methods": ["lexical"]}).finished) == [("s", "a"), ("s", "b"), ("s", "c")]
    # a file with no whole answer (stopped during the first one, or empty) does not stand in another run's way
    for text in ('{"settings": {"methods": ["lexical"]}}\n', ""):
        path.write_text(text)
        other = Checkpoint(path, {"methods": ["attnlrp"]})
        assert other.finished == {}
        other(answer)
        assert json.loads(path.read_text().splitlines()[0]) == {"settings": {"methods": ["attnlrp"]}}
    path.write_bytes(b"\xff\xfe not text")
    with pytest.raises(EvalDataError, match="cannot read the answers kept in.*--restart"):
        Checkpoint(path, {})
    assert Checkpoint(path, {}, restart=True).finished == {} and not path.exists()


def _eval_argv(tmp_path, monkeypatch, tiny_attributor, n_cases: int) -> tuple[list[str], list]:
    """``rag-attrib eval`` over ``n_cases`` copies of CASE (toy0, toy1, ...) on the tiny model: its command line,
    and the models it loads (a list that goes on filling)."""

    data = tmp_path / "cases.jsonl"
    data.write_text("".join(json.dumps(dict(CASE, id=f"toy{i}")) + "\n" for i in range(n_cases)))
    loaded = []
    monkeypatch.setattr("rag_attrib.cli.eval.load_attributor", lambda model, stderr, support=True, **_: loaded.append(model) or tiny_attributor)
    out = tmp_path / "report.json"
    return ["eval", "--data", str(data), "--methods", "lexical", "--json", str(out), "--k", "1"], loaded


def _stopped_eval(tmp_path, monkeypatch, tiny_attributor, n_cases: int, stop_at: str):
    """``_eval_argv``'s command, stopped by Ctrl-C at ``stop_at``: its command line, the cases run so far (the list
    goes on filling) and the checkpoint's path."""
    from rag_attrib import cli
    from rag_attrib.eval import run

    argv, _ = _eval_argv(tmp_path, monkeypatch, tiny_attributor, n_cases)
    ran, stop, real = [], [stop_at], run.eval_case

    def stops(attributor, case, *rest):
        if case.id in stop:
            stop.clear()
            raise KeyboardInterrupt
        ran.append(case.id)
        return real(attributor, case, *rest)

    monkeypatch.setattr(run, "eval_case", stops)
    assert cli.main(argv) == 130
    return argv, ran, Path(f"{argv[argv.index('--json') + 1]}.partial.jsonl")


def test_a_corrupted_eval_checkpoint_sets_aside_each_bad_line_by_number_and_runs_its_answer_again(
        tmp_path, monkeypatch, capsys, tiny_attributor):
    from rag_attrib import cli

    argv, ran, partial = _stopped_eval(tmp_path, monkeypatch, tiny_attributor, 3, stop_at="toy2")
    header, toy0, toy1 = partial.read_text().splitlines()
    ghost = json.loads(toy1)  # an answer of a case this run does not have
    ghost["case"] = "ghost"
    for record in ghost["records"]:
        record["case"] = "ghost"
    deep = json.loads(toy1)  # a wrong type deep inside (a later line for the same case)
    deep["records"][0]["methods"]["lexical"]["comp@1"] = "high"
    lines = [header, json.dumps({**json.loads(toy0), "records": "abc"}), toy1, '{"junk": true}', "[1, 2]",
             "not json", json.dumps({**json.loads(toy1), "source": ["a", "list"]}), json.dumps(ghost),
             json.dumps(deep)]
    partial.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    ran.clear()
    assert cli.main(argv) == 0
    assert ran == ["toy0", "toy2"]  # the answers of the bad lines ran again, the good one did not
    err = re.sub(r"\s+", " ", capsys.readouterr().err)
    assert "set aside 7 lines of" in err and "going on from 1 answer already done" in err
    for n, what in ((2, '"records" is "abc", not a list'), (4, '"case" is missing'), (5, "not a JSON object"),
                    (6, "not JSON"), (7, '"source" is ["a", "list"], not a string'), (8, 'an answer of case "ghost"'),
                    (9, 'sentence 0, lexical: "comp@1" is "high", not a number')):
        assert f"line {n}: {what}" in err
    report = json.loads(Path(argv[argv.index("--json") + 1]).read_text())
    assert report["cases"] == 3 and report["resumed"] == 1
    assert not partial.exists()


@pytest.fixture(scope="module")
def one_answer():
    """One answer of CASE by lexical and attnlrp at k 1 and 2 as the checkpoint keeps it (JSON), computed once."""
    from tiny_models import byte_tokenizer, tiny_llama

    from rag_attrib import Attributor
    from rag_attrib.eval.run import eval_case

    tokenizer = byte_tokenizer()  # as the tiny_attributor fixture, once for the module
    attributor = Attributor(tiny_llama(vocab_size=len(tokenizer), max_position_embeddings=2048, scale=1.0), tokenizer)
    return json.dumps(eval_case(attributor, parse_case(CASE, "toy"), ["lexical", "attnlrp"], [1, 2], 0))


@pytest.fixture
def kept_answer(one_answer):
    """The answer, and the check of answers for a run of CASE by those methods at those k."""
    from rag_attrib.eval.checkpoint import answer_checker

    return json.loads(one_answer), answer_checker([parse_case(CASE, "toy")], ["lexical", "attnlrp"], [1, 2])


def _set(path: tuple, value):
    """A function that sets the value at ``path`` (keys and indices) of an answer."""
    def change(answer):
        *parents, last = path
        target = answer
        for key in parents:
            target = target[key]
        target[last] = value
        return answer
    return change


@pytest.mark.parametrize("change, problem", [
    (lambda a: [a], "not a JSON object"),
    (_set(("records",), "abc"), '"records" is "abc", not a list'),
    (_set(("records",), []), "0 sentences where case toy has 2"),
    (_set(("case",), 5), '"case" is 5, not a string'),
    (_set(("case",), "other"), 'an answer of case "other" of toy, which this run does not have'),
    (_set(("source",), "elsewhere.jsonl"), 'of elsewhere.jsonl, which this run does not have'),
    (_set(("cost",), {"lexical": "x"}), '"cost" of lexical'),
    (_set(("cost", "attnlrp", "forwards"), 1.5), '"cost" of attnlrp'),
    (_set(("metric_forwards",), "3"), '"metric_forwards" is "3", not an integer'),
    (_set(("records", 0), {}), "sentence 0: \"case\" is missing"),
    (_set(("records", 1, "gold"), "tower"), 'sentence 1: "gold" is "tower", not [] as in the data'),
    (_set(("records", 0, "gold_positions"), ["x"]), "sentence 0: \"gold_positions\""),
    (_set(("records", 0, "logprob"), None), 'sentence 0: "logprob" is null, not a number'),
    (_set(("records", 0, "methods"), {}), "sentence 0, lexical: missing"),
    (_set(("records", 0, "methods", "attnlrp"), {}), 'sentence 0, attnlrp: "support" is missing'),
    (_set(("records", 0, "methods", "lexical", "suff@2"), [1]), 'sentence 0, lexical: "suff@2" is [1], not a number'),
    (_set(("records", 0, "methods", "lexical", "hit@1"), None), 'sentence 0, lexical: "hit@1" is null, not a number'),
    (_set(("records", 0, "methods", "attnlrp", "flagged"), "yes"), '"flagged" is "yes", not true, false or null'),
    (_set(("records", 0, "methods", "attnlrp", "shares"), [1.0]), '"shares" is [1.0], not 3 numbers'),
    (_set(("records", 0, "methods", "attnlrp", "decided_by"), "me"), '"decided_by" is "me"'),
    (_set(("records", 0, "methods", "attnlrp", "evidence_hit"), True), '"evidence_hit" is true, not a number'),
    (_set(("records", 1, "methods", "lexical", "support"), "1"), 'sentence 1, lexical: "support" is "1"'),
])
def test_each_value_a_kept_answer_is_read_for_is_checked(kept_answer, change, problem):
    answer, check = kept_answer
    assert check(answer) is None
    assert problem in check(change(answer))


def test_a_kept_answer_that_flags_nothing_beside_one_that_flags_counts_only_where_there_are_flags(
        kept_answer, tiny_attributor):
    answer, check = kept_answer
    for record in answer["records"]:  # attnlrp's rows as a method without shares writes them
        del record["methods"]["attnlrp"]["shares"]
        record["methods"]["attnlrp"]["flagged"] = None
    assert check(answer) is None
    fresh = parse_case(dict(CASE, id="fresh"), "toy")
    report = run_eval(tiny_attributor, [fresh, parse_case(CASE, "toy")], ["lexical", "attnlrp"], ks=[1, 2],
                      finished={("toy", "toy"): answer})
    flags = [r["methods"]["attnlrp"]["flagged"] for r in report["records"] if r["case"] == "fresh" and not r["gold"]]
    assert report["methods"]["attnlrp"]["flagged_unsupported"] == M.mean([float(f) for f in flags])


def test_a_refused_eval_checkpoint_shows_where_long_settings_differ(tmp_path):
    from rag_attrib.eval.checkpoint import Checkpoint

    path = tmp_path / "r.json.partial.jsonl"
    then = {"cases": [["cases.jsonl", f"toy{i}"] for i in range(6)], "data": "0" * 64, "--k": [1]}
    Checkpoint(path, then)({"case": "toy0", "source": "cases.jsonl", "records": []})
    now = {**then, "cases": [*then["cases"][:5], ["cases.jsonl", "toy9"]], "data": "0" * 63 + "1"}
    with pytest.raises(EvalDataError) as refused:
        Checkpoint.check(path, now)
    message = str(refused.value)
    for key in ("cases", "data"):
        shown_then, shown_now = re.search(rf"{key}: (.*?) then, (.*?) now", message).groups()
        assert shown_then != shown_now
    assert '"toy5"' in message and '"toy9"' in message and "--k" not in message
    # a first line that holds no settings: the answers after it cannot be checked
    path.write_text("[]\n" + path.read_text().split("\n", 1)[1])
    with pytest.raises(EvalDataError, match=f"first line of {re.escape(str(path))} .*--restart"):
        Checkpoint.check(path, then)


def test_a_second_eval_on_one_report_stops_at_once_naming_the_first(tmp_path, monkeypatch, capsys, tiny_attributor):
    from rag_attrib import cli
    from rag_attrib.eval import run

    argv, loaded = _eval_argv(tmp_path, monkeypatch, tiny_attributor, 2)
    out = Path(argv[argv.index("--json") + 1])
    second, real = [], run.eval_case

    def a_second_run_starts_meanwhile(attributor, case, *rest):
        if case.id == "toy1" and not second:  # the first answer is kept by now
            second.append("started")
            second.append(cli.main(argv))
            second.append(re.sub(r"\s+", " ", capsys.readouterr().err))
        return real(attributor, case, *rest)

    monkeypatch.setattr(run, "eval_case", a_second_run_starts_meanwhile)
    assert cli.main(argv) == 0
    _, code, err = second
    assert code == 2 and f"another run (pid {os.getpid()} " in err and str(out) in err and "another --json" in err
    assert len(loaded) == 1  # the second stopped before loading a model
    report = json.loads(out.read_text())
    assert report["cases"] == 2 and report["resumed"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases.jsonl", "report.json"]  # no partial, no lock left


def test_two_data_files_of_one_name_stay_apart_and_one_given_twice_is_refused(tmp_path):
    for folder, who in (("x", "Ada"), ("y", "Bob")):
        (tmp_path / folder).mkdir()
        answer = [{"text": f"{who} built it.", "gold": "tower"}]
        (tmp_path / folder / "cases.jsonl").write_text(json.dumps({**CASE, "answer": answer}) + "\n")
    x, y = str(tmp_path / "x" / "cases.jsonl"), str(tmp_path / "y" / "cases.jsonl")
    cases = load_many([x, y])
    assert [c.source for c in cases] == [x, y]  # each keeps its own table and answers
    for twice in ([x, x], [x, str(tmp_path / "x" / "." / "cases.jsonl")], ["fictional", "fictional"]):
        with pytest.raises(EvalDataError, match="name one data set more than once"):
            load_many(twice)


# ------------------------------------------------------------------------------------------------ real model


@pytest.mark.slow
def test_harness_on_three_shipped_cases_with_the_embedded_model():
    from rag_attrib import Attributor

    attributor = Attributor.load("smollm2")
    report = run_eval(attributor, load_cases(limit=3), ["attnlrp", "lexical", "random"], ks=(1,))
    lrp, lexical, rnd = (report["methods"][m] for m in ("attnlrp", "lexical", "random"))
    assert report["cases"] == 3 and report["sentences"] == 6
    assert lrp["hit@1"] >= lexical["hit@1"]
    assert lrp["comp@1"] > rnd["comp@1"] and lrp["suff@1"] < rnd["suff@1"]
    assert lrp["forwards_per_answer"] == 1 and lrp["backwards_per_answer"] == 2
    assert not math.isnan(lrp["mrr"])


def test_every_method_sees_the_tokens_attribute_sees_on_a_template_less_tokenizer(case, monkeypatch):
    """One encoding step: without a chat template the tokenizer's BOS starts the prompt, for AttnLRP and for
    the baselines alike (they used to drop it)."""
    from tiny_models import byte_tokenizer, tiny_llama

    import rag_attrib.attribute as attribute_module
    from rag_attrib import Attributor

    tokenizer = byte_tokenizer(chat_template=False, bos=True)
    attributor = Attributor(tiny_llama(vocab_size=len(tokenizer), max_position_embeddings=2048), tokenizer)
    seen = []
    engine = attribute_module.sentence_relevance

    def spy(model, input_ids, *args, **kwargs):
        seen.append(input_ids.tolist())
        return engine(model, input_ids, *args, **kwargs)

    monkeypatch.setattr(attribute_module, "sentence_relevance", spy)
    attributor.attribute(case.question, case.chunks, case.answer, sentences=case.spans)
    prepared = prepare(attributor, case)
    assert seen == [prepared.input_ids.tolist()]
    assert prepared.prompt_ids[0] == tokenizer.bos_token_id
    first_tokens = []
    hook = attributor.model.register_forward_pre_hook(
        lambda module, args, kwargs: first_tokens.append(int((args[0] if args else kwargs["input_ids"])[0, 0])),
        with_kwargs=True,
    )
    try:
        sentence_logprobs(attributor, case, [0, 2])  # the leave-one-out / comp@k forward pass
    finally:
        hook.remove()
    assert first_tokens == [tokenizer.bos_token_id]


def test_position_and_evidence_metrics_by_hand():
    from rag_attrib.types import Span

    assert [M.relative_position(i, 5) for i in range(5)] == [0, 0.25, 0.5, 0.75, 1]
    assert M.relative_position(0, 1) == 0.5
    assert [M.third(p) for p in (0, 0.25, 1 / 3, 0.5, 2 / 3, 0.75, 1)] == ["first"] * 2 + ["middle"] * 3 + ["last"] * 2
    gold = [Span(10, 20), Span(30, 40)]
    assert M.evidence_hit(Span(12, 18), gold) == 1.0
    assert M.evidence_hit(Span(15, 30), gold) == 0.0  # 5 of 15 characters inside
    assert M.evidence_hit(Span(15, 24), gold) == 1.0  # 5 of 9
    assert M.evidence_hit(None, gold) == 0.0


def test_evidence_hit_and_positions_in_the_report(tiny_attributor):
    labelled = json.loads(json.dumps(CASE))
    labelled["chunks"][0]["text"] = "The mill is old. The tower was built by Ada."
    labelled["answer"][0]["evidence"] = {"tower": [[17, 44]]}
    labelled["answer"][1]["kind"] = "invented"
    report = run_eval(tiny_attributor, [parse_case(labelled, "toy")], ["attnlrp", "lexical"], ks=[1])
    lexical, lrp = report["methods"]["lexical"], report["methods"]["attnlrp"]
    assert lexical["evidence@1"] == 1.0  # "The tower was built by Ada." shares the words
    assert lrp["evidence@1"] in (0.0, 1.0)
    assert lexical["top_first"] + lexical["top_middle"] + lexical["top_last"] == pytest.approx(1.0)
    assert lexical["gold_first"] == 1.0  # the gold chunk is the first of three
    assert lrp["flagged_invented"] in (0.0, 1.0) and lrp["flagged_contradiction"] is None
    from rag_attrib.eval.table import caption

    assert "gold chunks in the first / middle / last third of the prompt: 100% / 0% / 0%" in caption(report)


def test_the_support_method_flags_by_the_support_model_and_counts_its_passes(tiny_attributor, case):
    import copy

    from rag_attrib.support import SupportModel

    assert "support" in resolve_methods(None, tiny_attributor)[1]  # no support model: skipped, saying why
    assert "has no fitted support model" in resolve_methods(["support"], tiny_attributor)[1]["support"]
    # support = sigmoid(1000 * (best_share - 0.5)): a sentence is supported when a chunk has half its relevance
    with_support = copy.copy(tiny_attributor)
    with_support.support = SupportModel(("best_share",), (1000.0,), 0.0, (0.5,), (1.0,))
    with count_forwards(with_support.model) as counter:
        report = run_eval(with_support, [case], ["support", "attnlrp"], ks=(1,))
    assert counter.count == report["metric_forwards"] + 3  # one attribution serves both methods
    assert counter.no_grad_count == counter.count - 1  # all but AttnLRP's own forward
    rows = [r["methods"]["support"] for r in report["records"]]
    assert [row["flagged"] for row in rows] == [max(row["shares"]) < 0.5 for row in rows]
    assert [row["flagged"] for row in rows] == [row["support"] < 0.5 for row in rows]
    plain = [r["methods"]["attnlrp"] for r in report["records"]]
    assert [row["scores"] for row in rows] == [row["scores"] for row in plain]  # the same ranking
    assert all(row["flagged"] == (max(row["shares"]) < tiny_attributor.min_share) for row in plain)
    cost = report["methods"]
    assert cost["support"]["forwards_per_answer"] == 3 and cost["attnlrp"]["forwards_per_answer"] == 1
    assert {row["decided_by"] for row in rows} == {"support"} and {row["decided_by"] for row in plain} == {"shares"}
    alone = run_eval(with_support, [case], ["attnlrp"], ks=(1,))  # attnlrp derived from the support run = run alone
    assert [r["methods"]["attnlrp"] for r in alone["records"]] == plain
    assert alone["methods"]["attnlrp"]["forwards_per_answer"] == 1


def test_a_judge_beside_the_model_is_counted_in_the_support_cost_not_in_attnlrps(tiny_attributor, case):
    from tiny_models import tiny_llama

    from rag_attrib import Attributor
    from rag_attrib.eval.table import caption
    from rag_attrib.support import SupportModel

    other = tiny_llama(vocab_size=len(tiny_attributor.tokenizer), max_position_embeddings=2048, scale=1.0, seed=7)
    judged = Attributor(tiny_attributor.model, tiny_attributor.tokenizer, judge=(other, tiny_attributor.tokenizer),
                        support=SupportModel(("best_share", "judge"), (1.0, 1.0), 0.0, (0.5, 0.0), (1.0, 1.0)))
    with count_forwards(other) as judging:
        report = run_eval(judged, [case], ["support", "attnlrp"], ks=(1,))
    cost, n = report["methods"], len(case.sentences)
    assert judging.count == n  # one judge pass per sentence
    assert cost["support"]["forwards_per_answer"] == 3 + n and cost["attnlrp"]["forwards_per_answer"] == 1
    assert report["judge"] == other.config.model_type and report["judge"] in caption(report)
    assert run_eval(tiny_attributor, [case], ["attnlrp"], ks=(1,))["judge"] is None


def test_where_the_support_model_leaves_a_case_to_the_shares_they_decide_and_no_mixed_auroc_is_pooled(
        tiny_attributor, case):
    import copy
    import dataclasses

    from rag_attrib.support import ByChunkLength, SupportModel, mean_words

    words = mean_words([c.text for c in case.chunks])
    longer = dataclasses.replace(case, id="longer", chunks=tuple(dataclasses.replace(c, text=f"{c.text} {c.text}")
                                                                 for c in case.chunks))
    with_support = copy.copy(tiny_attributor)  # decides from 1.5 times the case's chunk length on: only on `longer`
    with_support.support = ByChunkLength(None, SupportModel(("best_share",), (1000.0,), 0.0, (0.5,), (1.0,)),
                                         short_words=words, long_words=1.5 * words)
    report = run_eval(with_support, [case, longer], ["support"], ks=(1,))
    rows = {r["case"]: [] for r in report["records"]}
    for r in report["records"]:
        rows[r["case"]].append(r["methods"]["support"])
    assert {row["decided_by"] for row in rows[case.id]} == {"shares"}
    assert all(row["flagged"] == (max(row["shares"]) < tiny_attributor.min_share) for row in rows[case.id])
    assert {row["decided_by"] for row in rows["longer"]} == {"support"}
    assert all(row["flagged"] == (row["support"] < 0.5) for row in rows["longer"])
    assert report["methods"]["support"]["auroc_unsupported"] is None  # shares and probabilities: not one scale
    assert run_eval(with_support, [longer], ["support"], ks=(1,))["methods"]["support"]["auroc_unsupported"] is not None


def test_eval_help_names_every_method():
    from rag_attrib.cli import build_parser

    eval_parser = build_parser()._subparsers._group_actions[0].choices["eval"]
    described = " ".join(eval_parser.description.split())
    assert all(re.search(rf"\b{name}\b", described) for name in METHODS), described


def test_the_labels_of_the_documentation_families_are_read_and_checked():
    """A case's family, style and printed answer, and a contradiction's kind and conflicting span, are read; a
    printed answer that lacks a labelled sentence, or a label on the wrong kind of sentence, is refused."""
    chunk = "The cache keeps entries for 90 days. It is off by default."
    record = {"id": "c", "question": "q?", "family": "demo", "style": "list", "split": "dev",
              "chunks": [{"id": "a", "text": chunk}, {"id": "b", "text": "Other text."}],
              "answer_text": "In short:\n- Entries are kept 90 days.\n- It is on by default.",
              "answer": [{"text": "Entries are kept 90 days.", "gold": "a", "evidence": {"a": [[0, 36]]}},
                         {"text": "It is on by default.", "gold": None, "kind": "contradiction",
                          "contradiction": "negation", "conflicts_with": {"a": [[37, 58]]}}]}
    case = parse_case(record)
    assert (case.family, case.style, case.answer_text) == ("demo", "list", record["answer_text"])
    assert case.sentences[1].contradiction == "negation"
    assert case.sentences[1].conflicts_with["a"][0].of(chunk) == "It is off by default."
    with pytest.raises(ValueError, match='"answer_text" does not hold the sentence'):
        parse_case(dict(record, answer_text="- It is on by default.\n- Entries are kept 90 days."))
    wrong = dict(record, answer=[dict(record["answer"][0], contradiction="number"), record["answer"][1]])
    with pytest.raises(ValueError, match="labels contradictions only"):
        parse_case(wrong)
    outside = dict(record, answer=[record["answer"][0], dict(record["answer"][1], conflicts_with={"a": [[37, 99]]})])
    with pytest.raises(ValueError, match="do not lie in chunk"):
        parse_case(outside)
