"""Per-sentence signals for the support decision, dumped to JSON (the study behind ``rag_attrib.support``).

For every sentence of a labelled set: the signals ``Attributor`` computes for its support model (every chunk's
AttnLRP share, the grounding, the token count, the log-probability with all chunks, with none and without the
chunks that are some sentence's top chunk), recorded from ``Attributor.attribute`` itself so that a model fitted
on them sees at run time exactly what it was fitted on, and the labels (gold chunks, kind).
``benchmarks/fit_support.py`` fits the support model on the dev split from these dumps.

    python benchmarks/support_study.py --data realistic-dev --out /tmp/study_dev.json [--model M] [--target T]

``--tokens`` also records, per sentence, each token's log-probability with all chunks, with none and without the
top chunks (``tok_all``, ``tok_none``, ``tok_without_tops``: three more forward passes without graph), its tokens'
text, and the evidence passage of its top chunk (``top_evidence``: the span in that chunk), for the studies of
signals over the context-sensitive tokens and of contradictions (``benchmarks/transfer.py``); with the labels
of the documentation families (family, style, how a contradiction contradicts, the span it conflicts with).

The dump is rewritten after every answer, so a run that is stopped (a study of the 1.5B on realistic-dev takes
about 90 minutes on 2 cores) goes on where it stopped when the same command is run again.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from rag_attrib import Attributor
from rag_attrib.eval import load_many
from rag_attrib.prompt import Encoded, encode_prompt
from rag_attrib.support import without_chunks


class Recorder:
    """Stands in for a support model: keeps the signals it is given and calls every sentence supported."""

    def __init__(self) -> None:
        self.signals: list[dict[str, Any]] = []

    def __call__(self, signals: Mapping[str, Any]) -> float:
        self.signals.append(dict(signals))
        return 1.0


@torch.no_grad()
def token_logprobs(attributor: Attributor, enc: Encoded, remove: list[int]) -> list[list[float]]:
    """Each answer token's log-probability given the prompt without the chunks ``remove``, per sentence."""
    prompt_ids = encode_prompt(attributor.tokenizer, without_chunks(enc.prompt.text, enc.prompt.chunk_spans, remove))[0]
    ids = torch.tensor(prompt_ids + enc.answer_ids)
    positions = torch.arange(len(prompt_ids) - 1, len(ids) - 1)
    logits = attributor.model(ids[None], logits_to_keep=positions, use_cache=False).logits[0].float()
    per_token = torch.log_softmax(logits, -1).gather(-1, ids[len(prompt_ids):, None])[:, 0].tolist()
    start = enc.answer_start
    return [per_token[a - start : b - start] for a, b in enc.sentence_tokens]


def token_rows(attributor: Attributor, enc: Encoded, tops: list[int], n_chunks: int) -> list[dict]:
    """Per sentence: its tokens' text and log-probabilities with all chunks, none, and without the top ones."""
    lp = {"tok_all": token_logprobs(attributor, enc, []),
          "tok_none": token_logprobs(attributor, enc, list(range(n_chunks))),
          "tok_without_tops": token_logprobs(attributor, enc, sorted(set(tops)))}
    texts = [enc.answer[a:b] for a, b in enc.answer_offsets]
    start = enc.answer_start
    return [{"tok_text": texts[a - start : b - start], **{k: v[i] for k, v in lp.items()}}
            for i, (a, b) in enumerate(enc.sentence_tokens)]


def study(attributor: Attributor, cases, rows: list[dict], save: Callable[[list[dict]], None],
          tokens: bool = False) -> list[dict]:
    """Add the rows of every case not yet in ``rows``; ``save`` them after each case."""
    done = {r["case"] for r in rows}
    support = attributor._support
    for n, case in enumerate(cases, start=1):
        if case.id in done:
            continue
        start = time.perf_counter()
        attributor.support = recorder = Recorder()
        encoded: list[Encoded] = []
        attributor._support = lambda enc, *rest, seen=encoded: (seen.append(enc), support(enc, *rest))[1]
        result = attributor.attribute(case.question, case.chunks, case.answer, sentences=case.spans)
        ids = [c.id for c in case.chunks]
        tops = [ids.index(s.top.chunk_id) for s in result.sentences]
        extra = (token_rows(attributor, encoded[0], tops, len(ids)) if tokens
                 else [{} for _ in result.sentences])
        for i, (sentence, attributed, signals) in enumerate(zip(case.sentences, result.sentences, recorder.signals,
                                                                strict=True)):
            by_id = {c.chunk_id: c for c in attributed.citations}
            top_evidence = [[e.span.start, e.span.end] for e in attributed.top.evidence or ()][:1]
            rows.append({
                "case": case.id, "source": case.source, "sentence": i, "text": sentence.text,
                "gold": [ids.index(g) for g in sentence.gold], "kind": sentence.kind, "style": case.style,
                "family": case.family, "contradiction": sentence.contradiction,
                "conflicts_with": {ids.index(k): [[sp.start, sp.end] for sp in v] for k, v in
                                   (sentence.conflicts_with or {}).items()},
                "evidence_gold": {ids.index(k): [[sp.start, sp.end] for sp in v] for k, v in (sentence.evidence or {}).items()},
                "n_chunks": len(ids),
                **signals,
                "shares": [by_id[c].share for c in ids], "scores": [by_id[c].score for c in ids],
                "target_value": attributed.target_value,
                "top": tops[i], "top_evidence": top_evidence,
                **extra[i],
            })
        save(rows)
        print(f"{n}/{len(cases)} {case.id} {time.perf_counter() - start:.1f}s", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", action="append", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--model")
    parser.add_argument("--target", default="token")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--tokens", action="store_true", help="record per-token log-probabilities and evidence")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    attributor = Attributor.load(args.model, target=args.target, keep_token_relevance=False,
                                 evidence="cited" if args.tokens else "none")
    head = {"model": attributor.model_name, "target": args.target, "data": args.data, "tokens": args.tokens}
    out = Path(args.out)
    rows = []
    if out.exists():
        earlier = json.loads(out.read_text())
        if {k: earlier.get(k) for k in head} != head:
            parser.error(f"{out} holds a study of {[earlier.get(k) for k in head]}, not of {list(head.values())}; "
                         "choose another --out")
        rows = earlier["rows"]
        print(f"going on from {len({r['case'] for r in rows})} answers already in {out}")

    def save(rows: list[dict]) -> None:
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps({**head, "rows": rows}))
        tmp.replace(out)  # never a half-written dump

    study(attributor, load_many(args.data), rows, save, args.tokens)


if __name__ == "__main__":
    main()
