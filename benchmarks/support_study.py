"""Per-sentence signals for the support decision, dumped to JSON (the study behind ``rag_attrib.support``).

For every sentence of a labelled set: the AttnLRP shares of every chunk, its log-probability with all chunks,
with none, and without the chunks that are some sentence's top chunk, its token count, and the labels (gold
chunks, kind). ``benchmarks/fit_support.py`` fits the support model on the dev split from these dumps.

    python benchmarks/support_study.py --data realistic-dev --out /tmp/study_dev.json [--model M] [--target T]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from rag_attrib import Attributor
from rag_attrib.eval import load_many, prepare, sentence_logprobs


def study(attributor: Attributor, cases) -> list[dict]:
    rows = []
    for n, case in enumerate(cases, start=1):
        start = time.perf_counter()
        prepared = prepare(attributor, case)
        spans = prepared.relative_sentences()
        result = attributor.attribute(case.question, case.chunks, case.answer, sentences=case.spans)
        ids = [c.id for c in case.chunks]
        everything = range(len(ids))
        lp_all = sentence_logprobs(attributor, case, everything, prepared.answer_ids, spans)
        lp_none = sentence_logprobs(attributor, case, [], prepared.answer_ids, spans)
        tops = {ids.index(s.citations[0].chunk_id) for s in result.sentences}
        lp_without_tops = sentence_logprobs(attributor, case, [i for i in everything if i not in tops],
                                            prepared.answer_ids, spans)
        for i, (sentence, attributed) in enumerate(zip(case.sentences, result.sentences)):
            by_id = {c.chunk_id: c for c in attributed.citations}
            a, b = spans[i]
            rows.append({
                "case": case.id, "source": case.source, "sentence": i, "text": sentence.text,
                "gold": [ids.index(g) for g in sentence.gold], "kind": sentence.kind, "n_chunks": len(ids),
                "tokens": b - a,
                "shares": [by_id[c].share for c in ids], "scores": [by_id[c].score for c in ids],
                "chunk_tokens": [tb - ta for ta, tb in prepared.chunk_tokens],
                "grounding": attributed.grounding, "target_value": attributed.target_value,
                "lp_all": float(lp_all[i]), "lp_none": float(lp_none[i]), "lp_without_tops": float(lp_without_tops[i]),
            })
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
    rows = study(attributor, load_many(args.data))
    with open(args.out, "w") as f:
        json.dump({"model": attributor.model_name, "target": args.target, "data": args.data, "rows": rows}, f)


if __name__ == "__main__":
    main()
