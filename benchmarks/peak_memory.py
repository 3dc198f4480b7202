"""Peak resident memory of one attribution of the longest answer of a data set, per model, each in a fresh process.

    python benchmarks/peak_memory.py --data realistic-test --model qwen2.5-0.5b --model smollm2 --model gemma3-270m

The longest answer (prompt + answer tokens) sets the peak of a whole eval run; attributing only it gives each
model's peak without the hour an eval takes. VmHWM (model, torch and Python included), CPU, default memory policy.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def child(model: str, data: str) -> None:
    from rag_attrib import Attributor
    from rag_attrib.eval import load_many, prepare

    attributor = Attributor.load(model, keep_token_relevance=False)
    cases = load_many([data])
    longest = max(cases, key=lambda case: len(prepare(attributor, case).input_ids))
    tokens = len(prepare(attributor, longest).input_ids)
    start = time.perf_counter()
    attributor.attribute(longest.question, longest.chunks, longest.answer, sentences=longest.spans)
    seconds = time.perf_counter() - start
    status = Path("/proc/self/status").read_text().splitlines()
    peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    print(json.dumps({"model": attributor.model_name, "case": longest.id, "tokens": tokens,
                      "sentences": len(longest.sentences), "seconds": round(seconds, 1), "peak_gib": round(peak / 2**30, 2)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="realistic-test")
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.model[0], args.data)
        return
    for model in args.model:
        subprocess.run([sys.executable, __file__, "--child", "--data", args.data, "--model", model], check=True)


if __name__ == "__main__":
    main()
