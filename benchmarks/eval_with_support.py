"""``rag-attrib eval`` with a support model given as JSON: for a model that ships none, or a fit under study.

The JSON is what ``benchmarks/fit_support.py`` prints after ``fitted:`` (``SupportModel.to_dict``). Every data set
given must lie in the range the fit was made for (``short-dev`` fits: chunks of one or two sentences).

    python benchmarks/eval_with_support.py --model qwen2.5-1.5b --support '{"names": [...], ...}' \
        --data paraphrase --data fictional --threads 2 --json /tmp/eval.json
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from rich.console import Console

from rag_attrib import Attributor
from rag_attrib.eval import load_many, print_table, run_eval
from rag_attrib.support import SupportModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--support", required=True, help="the fit as JSON (fit_support.py's 'fitted:' line)")
    parser.add_argument("--data", action="append", required=True)
    parser.add_argument("--methods", default="attnlrp,support")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    attributor = Attributor.load(args.model, support=SupportModel.from_dict(json.loads(args.support)))
    cases = load_many(args.data)
    start = time.perf_counter()
    report = run_eval(attributor, cases, args.methods.split(","), ks=(1,), progress=lambda done, total, case: print(
        f"{done}/{total} {case} {time.perf_counter() - start:.0f} s", flush=True))
    print_table(report, Console(width=200))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f)


if __name__ == "__main__":
    main()
