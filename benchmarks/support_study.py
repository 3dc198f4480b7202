"""Per-sentence signals for the support decision, dumped to JSON (the study behind ``rag_attrib.support``).

For every sentence of a labelled set: the signals ``Attributor`` computes for its support model (every chunk's
AttnLRP share, the grounding, the token count, the log-probability with all chunks, with none and without the
chunks that are some sentence's top chunk), recorded from ``Attributor.attribute`` itself so that a model fitted
on them sees at run time exactly what it was fitted on, and the labels (gold chunks, kind).
``benchmarks/fit_support.py`` fits the support model on the dev split from these dumps.

    python benchmarks/support_study.py --data realistic-dev --out /tmp/study_dev.json [--model M] [--target T]

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


class Recorder:
    """Stands in for a support model: keeps the signals it is given and calls every sentence supported."""

    def __init__(self) -> None:
        self.signals: list[dict[str, Any]] = []

    def __call__(self, signals: Mapping[str, Any]) -> float:
        self.signals.append(dict(signals))
        return 1.0


def study(attributor: Attributor, cases, rows: list[dict], save: Callable[[list[dict]], None]) -> list[dict]:
    """Add the rows of every case not yet in ``rows``; ``save`` them after each case."""
    done = {r["case"] for r in rows}
    for n, case in enumerate(cases, start=1):
        if case.id in done:
            continue
        start = time.perf_counter()
        attributor.support = recorder = Recorder()
        result = attributor.attribute(case.question, case.chunks, case.answer, sentences=case.spans)
        ids = [c.id for c in case.chunks]
        for i, (sentence, attributed, signals) in enumerate(zip(case.sentences, result.sentences, recorder.signals,
                                                                strict=True)):
            by_id = {c.chunk_id: c for c in attributed.citations}
            rows.append({
                "case": case.id, "source": case.source, "sentence": i, "text": sentence.text,
                "gold": [ids.index(g) for g in sentence.gold], "kind": sentence.kind, "style": case.style,
                "n_chunks": len(ids),
                **signals,
                "shares": [by_id[c].share for c in ids], "scores": [by_id[c].score for c in ids],
                "target_value": attributed.target_value,
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
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    attributor = Attributor.load(args.model, target=args.target, keep_token_relevance=False, evidence="none")
    head = {"model": attributor.model_name, "target": args.target, "data": args.data}
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

    study(attributor, load_many(args.data), rows, save)


if __name__ == "__main__":
    main()
