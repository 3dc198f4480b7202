"""The verdicts as ``verify`` gives them, on labelled answers: each answer as printed, split by ``verify`` itself.

Each labelled sentence takes the verdict and the support of the ``verify`` sentence that holds most of its
characters (where the splitter joins two labelled sentences, both get the one verdict, as a user sees it). Per
family, then mean and worst family: hit@1 (supported sentences whose top attributed chunk is a gold one),
supported sentences flagged (``ungrounded`` or ``contradicted``), unsupported ones flagged, contradictions
flagged, and the AUROC of ``support`` (of the top share in a family where the shares decide somewhere); then the flag rates of supported
/ unsupported sentences by answer style and by kind of unsupported sentence. One record per labelled
sentence is appended to ``--out`` as each answer is done; a run that stops goes on where it stopped.

    python benchmarks/verify_labelled.py --data families-test --out /tmp/ftest_verify.jsonl --threads 2 \
        [--judge qwen2.5-1.5b]
    python benchmarks/verify_labelled.py --report /tmp/ftest_verify.jsonl     # the table again, from the records
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from rag_attrib import Attributor, verify
from rag_attrib.eval import load_many
from rag_attrib.eval.data import family_of, sentence_spans_in
from rag_attrib.eval.metrics import auroc

FLAGS = ("ungrounded", "contradicted")


def _overlap(a, b) -> int:
    """Characters two spans share."""
    return max(0, min(a.end, b.end) - max(a.start, b.start))


def records(case, verification) -> list[dict]:
    """One record per labelled sentence of ``case``: the verdict of the ``verify`` sentence holding most of it."""
    printed = case.answer_text or case.answer
    out = []
    spans = sentence_spans_in(printed, [s.text for s in case.sentences])
    for i, (span, sentence) in enumerate(zip(spans, case.sentences)):
        j = max(range(len(verification.sentences)), key=lambda k: _overlap(span, verification.sentences[k].span))
        verdict, attributed = verification.sentences[j], verification.result.sentences[j]
        holds = sum(verdict.span.overlaps(other) for other in spans)
        out.append({"case": case.id, "source": case.source, "family": family_of(case.id, case.family),
                    "style": case.style, "sentence": i, "gold": list(sentence.gold), "kind": sentence.kind,
                    "verdict": verdict.verdict, "support": attributed.support, "top_share": verdict.top_share,
                    "top": attributed.citations[0].chunk_id if attributed.citations else None,
                    "joined": holds > 1})
    return out


def report(rows: list[dict]) -> None:
    """The table: per family, then mean and worst (the worst of each column on its own)."""
    def rate(subset: list[dict]) -> float | None:
        return sum(r["verdict"] in FLAGS for r in subset) / len(subset) if subset else None

    table = {}
    for family in sorted({r["family"] for r in rows}):
        mine = [r for r in rows if r["family"] == family]
        good, bad = [r for r in mine if r["gold"]], [r for r in mine if not r["gold"]]
        key = "support" if all(r["support"] is not None for r in mine) else "top_share"  # one scale, never mixed

        def score(r: dict, key: str = key) -> float:
            return r[key]

        table[family] = {
            "hit@1": sum(r["top"] in r["gold"] for r in good) / len(good),
            "supported flagged": rate(good), "unsupported flagged": rate(bad),
            "contradictions flagged": rate([r for r in bad if r["kind"] == "contradiction"]),
            "AUROC": auroc([score(r) for r in good], [score(r) for r in bad]) if good and bad else None,
        }
    columns = list(next(iter(table.values())))
    print("| family | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for family, values in table.items():
        print(f"| {family} | " + " | ".join(_cell(c, values[c]) for c in columns) + " |")
    for name, pick in (("mean", None), ("worst", True)):
        cells = []
        for c in columns:
            values = [v[c] for v in table.values() if v[c] is not None]
            worst = max(values) if c == "supported flagged" else min(values)
            cells.append(_cell(c, worst if pick else sum(values) / len(values)))
        print(f"| **{name}** | " + " | ".join(cells) + " |")
    for key in ("style", "kind"):
        values = sorted({r[key] for r in rows} - {None})
        print(f"by {key}: " + "; ".join(_breakdown(value, [r for r in rows if r[key] == value], rate) for value in values))
    joined = sum(r["joined"] for r in rows)
    print(f"{len(rows)} labelled sentences, {sum(not r['gold'] for r in rows)} unsupported; {joined} share a "
          "verify sentence with another labelled one")


def _breakdown(value: str, rows: list[dict], rate) -> str:
    good, bad = [r for r in rows if r["gold"]], [r for r in rows if not r["gold"]]
    return f"{value} " + " / ".join(f"{rate(part):.0%} of {len(part)}" for part in (good, bad) if part)


def _cell(column: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if column in ("hit@1", "AUROC") else f"{value:.0%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", action="append", help="an eval set (families-test, realistic-test, ...); repeatable")
    parser.add_argument("--out", help="the records, one per labelled sentence (appended; a run resumes)")
    parser.add_argument("--report", help="only print the table of these records")
    parser.add_argument("--model", help="the attribution model (default: the default model)")
    parser.add_argument("--judge", help="the judge model the support reads (Attributor.load(judge=...))")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--limit", type=int, help="only the first N answers of each set")
    args = parser.parse_args()
    if args.report:
        report([json.loads(line) for line in Path(args.report).read_text().splitlines()])
        return
    if not args.data or not args.out:
        parser.error("pass --data and --out (or --report RECORDS)")
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    done = {json.loads(line)["case"] for line in out.read_text().splitlines()} if out.exists() else set()
    attributor = Attributor.load(args.model, **({"judge": args.judge} if args.judge else {}))
    for case in load_many(args.data, limit=args.limit):
        if case.id in done:
            continue
        start = time.perf_counter()
        verification = verify(attributor, case.question, case.chunks, case.answer_text or case.answer)
        with out.open("a") as f:
            f.writelines(json.dumps(r) + "\n" for r in records(case, verification))
        print(f"{case.id}: {time.perf_counter() - start:.0f} s", flush=True)
    report([json.loads(line) for line in out.read_text().splitlines()])


if __name__ == "__main__":
    main()
