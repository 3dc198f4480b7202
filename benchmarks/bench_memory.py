"""Peak memory and time of each memory policy on long prompts of real text, each run in a fresh process.

    python benchmarks/bench_memory.py [--model M] [--lengths 1024,2048,4096,8192] [--policies fast,low] [--max-fast N]

The prompt is the start of PostgreSQL's psql reference (Debian's postgresql-doc-15,
``/usr/share/doc/postgresql-doc-15/html/app-psql.html``, visible text via
``rag_attrib.eval.provenance.document_text``), cut to the length minus the answer; the answer is four
sentences copied from the middle of the prompt (as a RAG answer copies its source), teacher-forced, with
the default target. For each length, three configurations run, each in its own subprocess so that peaks
do not mix: one no-grad forward over prompt + answer (logits at the answer positions only, as the engine
computes them), and ``sentence_relevance`` with ``memory="fast"`` and with ``memory="low"``. Peak memory is
the process's peak resident set (VmHWM, model and torch included) on CPU, ``torch.cuda.max_memory_allocated``
on a GPU. One run per configuration (the long ones take minutes); times exclude loading the model.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

DOCUMENT = Path("/usr/share/doc/postgresql-doc-15/html/app-psql.html")
ANSWER_SENTENCES = 4


def peak_bytes(device) -> int:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def inputs(tokenizer, length: int):
    """Token ids of prompt + answer (``length`` in all), the answer's start and its sentences' token spans."""
    import torch

    from rag_attrib.eval.provenance import document_text
    from rag_attrib.text import char_to_token_spans, split_sentences

    text = document_text(DOCUMENT)
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    middle = offsets[length // 2][0]
    sentences = split_sentences(text[middle:])[1 : 1 + ANSWER_SENTENCES]  # whole sentences only
    answer = " " + text[middle + sentences[0].start : middle + sentences[-1].end]
    enc = tokenizer(answer, add_special_tokens=False, return_offsets_mapping=True)
    answer_ids = enc["input_ids"]
    cut = offsets[length - len(answer_ids)][0]
    prompt_ids = tokenizer(text[:cut], add_special_tokens=False)["input_ids"][: length - len(answer_ids)]
    start = len(prompt_ids)
    spans = [(start + a, start + b) for a, b in char_to_token_spans(answer, enc["offset_mapping"], split_sentences(answer))]
    return torch.tensor(prompt_ids + answer_ids), start, spans


def child(model_name: str | None, length: int, policy: str) -> None:
    import torch

    from rag_attrib.lrp.relevance import sentence_relevance
    from rag_attrib.model import load_model

    model, tokenizer = load_model(model_name)
    ids, start, spans = inputs(tokenizer, length)
    ids = ids.to(model.device)
    if model.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(model.device)
    began = time.perf_counter()
    if policy == "forward":
        positions = torch.arange(start - 1, len(ids) - 1, device=ids.device)
        with torch.no_grad():
            model(ids[None], logits_to_keep=positions, use_cache=False)
    else:
        sentence_relevance(model, ids, start, spans, memory=policy)
    seconds = time.perf_counter() - began
    print(json.dumps({"tokens": len(ids), "sentences": len(spans), "policy": policy, "seconds": seconds,
                      "peak": peak_bytes(model.device), "device": str(model.device)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None,
                        help="a named offline model, a path or a cached hub id (default: the library's default model)")
    parser.add_argument("--lengths", default="1024,2048,4096,8192")
    parser.add_argument("--policies", default="fast,low")
    parser.add_argument("--max-fast", type=int, default=None, help="skip memory='fast' above this many tokens")
    parser.add_argument("--child", nargs=2, metavar=("LENGTH", "POLICY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.model, int(args.child[0]), args.child[1])
        return

    import torch

    print(f"document: {DOCUMENT}; model: {args.model or 'the default model'}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'tokens':>6} {'policy':>8} {'sentences':>9} {'peak':>9} {'time':>8} {'/ forward':>9}")
    rows = []
    for length in map(int, args.lengths.split(",")):
        forward = None
        for policy in ["forward", *args.policies.split(",")]:
            if policy == "fast" and args.max_fast is not None and length > args.max_fast:
                print(f"{length:>6} {policy:>8}   skipped (--max-fast {args.max_fast})")
                continue
            command = [sys.executable, __file__, "--child", str(length), policy]
            if args.model:
                command += ["--model", args.model]
            run = subprocess.run(command, capture_output=True, text=True, check=False)
            if run.returncode != 0:
                print(f"{length:>6} {policy:>8}   failed (exit {run.returncode}): {run.stderr.strip()[-300:]}")
                continue
            row = json.loads(run.stdout.strip().splitlines()[-1])
            rows.append(row)
            forward = row["seconds"] if policy == "forward" else forward
            ratio = f"{row['seconds'] / forward:9.2f}" if forward else f"{'':9}"
            print(f"{row['tokens']:>6} {policy:>8} {row['sentences']:>9} {row['peak'] / 2**30:6.2f}GiB "
                  f"{row['seconds']:7.1f}s {ratio}", flush=True)

    print("\nslope of peak memory (least squares over the lengths measured), and time against fast:")
    for policy in ["forward", *args.policies.split(",")]:
        points = [(r["tokens"], r["peak"]) for r in rows if r["policy"] == policy]
        if len(points) >= 2:
            mean_x = sum(x for x, _ in points) / len(points)
            mean_y = sum(y for _, y in points) / len(points)
            slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
            print(f"  {policy:8} {slope * 1000 / 2**20:8.1f} MiB per 1k tokens")
    by = {(r["tokens"], r["policy"]): r["seconds"] for r in rows}
    for tokens in sorted({r["tokens"] for r in rows}):
        if (tokens, "fast") in by and (tokens, "low") in by:
            print(f"  {tokens} tokens: low / fast time = {by[tokens, 'low'] / by[tokens, 'fast']:.2f}")


if __name__ == "__main__":
    main()
