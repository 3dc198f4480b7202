"""Throughput of ``verify`` over a JSONL file: the local engine against Ray with 1 and 2 workers, one run.

    python benchmarks/bench_verify.py [--records 16] [--workers 1,2] [--batch-size 2] [--model M]
    python benchmarks/bench_verify.py --gpu [--records 32] [--batch-size 4]   # an 8B-sized Llama, bf16

Every engine verifies the same generated input (RAG records of 3 chunks and a 2-sentence answer with
[n] markers, about 230 tokens each) into a fresh output. Printed per engine: records/second end to end
(for Ray: from submitting the dataset to the last shard written, the actors' start and model load
included; for the local engine: the model load included), records/second while busy (first batch start
to last batch end: the rate a long run approaches), and the peak memory (RSS) of each worker process.

On a CPU, Ray with 1 worker reserves all the cores (same torch threads as the local engine), with N
workers each reserves cores/N. ``--gpu`` runs one GPU worker on a randomly initialised Llama of Llama 3
8B's shape (32 layers, hidden 4096, GQA 32/8 heads, vocabulary 128256) in bfloat16, built in the worker
(nothing is downloaded), with the embedded model's tokenizer.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_attribute import TOPICS

ANSWERS = {
    "lighthouse": "The lighthouse was built in 1872 by Harald Voss [{n}]. Its lamp became electric in 1931 [{n}].",
    "bakery": "The bakery sells a honey bread called tollencake [{n}]. It opens at five every morning [{n}].",
    "festival": "The Zorblat festival is held every March [{n}]. Ilse Marr won the rope contest in 2019 [{n}].",
    "ferry": "The ferry leaves from Ardel [{n}]. The crossing takes forty minutes [{n}].",
    "school": "The school has 212 pupils [{n}]. Oskar Brenn started a sailing club in 2015 [{n}].",
    "harbour": "The harbour shelters about thirty fishing boats [{n}]. The catch is mostly herring and crab [{n}].",
}


def write_records(path: Path, n: int) -> None:
    """``n`` records: three consecutive topics as chunks, the answer about the middle one, cited as [2]."""
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            picked = [TOPICS[(i + k) % len(TOPICS)] for k in range(3)]
            name = picked[1][0]
            record = {"id": f"r{i}", "question": f"Tell me about the {name} in Quenby.",
                      "chunks": [{"id": t, "text": text} for t, text in picked],
                      "answer": ANSWERS[name].format(n=2)}
            f.write(json.dumps(record) + "\n")


def llama8b_factory():
    """A zero-argument factory, called once in the GPU worker: random Llama-3-8B-shaped model, bf16."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    from rag_attrib import Attributor
    from rag_attrib.model import load_model

    _, tokenizer = load_model(None)  # the embedded SmolLM2's tokenizer (its ids fit the 128k vocabulary)
    config = LlamaConfig(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                         num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=8192,
                         rope_theta=500000.0, tie_word_embeddings=False)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16, attn_implementation="sdpa")
    model.name_or_path = "random-llama-8b-shape"
    return Attributor(model.eval(), tokenizer)


def peak_rss() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=16)
    parser.add_argument("--workers", default="1,2", help="Ray worker counts to run (comma-separated)")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--model", default=None, help="model for all engines (default: the embedded SmolLM2)")
    parser.add_argument("--gpu", action="store_true", help="one GPU worker on a random 8B-shaped Llama (bf16)")
    parser.add_argument("--no-local", action="store_true", help="skip the local engine")
    args = parser.parse_args()

    import ray
    import torch

    from rag_attrib import Attributor
    from rag_attrib.batch import run_local
    from rag_attrib.ray_engine import run_ray

    cpus = os.cpu_count() or 1
    tmp = Path(tempfile.mkdtemp(prefix="bench_verify_"))
    src = tmp / "in.jsonl"
    write_records(src, args.records)
    load1 = os.getloadavg()[0]
    print(f"records: {args.records}  batch size: {args.batch_size}  cpus: {cpus}  torch {torch.__version__}  "
          f"ray {ray.__version__}  load average at start: {load1:.2f}")
    rows = []

    if not args.no_local and not args.gpu:
        start = time.perf_counter()
        attributor = Attributor.load(args.model)
        loaded = time.perf_counter()
        counts = run_local(attributor, src, tmp / "local.jsonl", progress=False)
        end = time.perf_counter()
        assert counts["ok"] == args.records, counts
        rows.append((f"local (1 process, {torch.get_num_threads()} torch threads)", args.records / (end - start),
                     args.records / (end - loaded), [peak_rss()]))
        del attributor

    t = time.perf_counter()
    ray.init(num_cpus=cpus, num_gpus=1 if args.gpu else 0, include_dashboard=False, log_to_driver=False)
    print(f"ray.init (local cluster, {cpus} CPUs): {time.perf_counter() - t:.1f} s")
    configs = [(1, 1.0, 1)] if args.gpu else [(w, max(1.0, cpus / w), 0) for w in
                                              (int(x) for x in args.workers.split(","))]
    for workers, cpus_each, gpus in configs:
        model = llama8b_factory if args.gpu else args.model
        counts = run_ray(src, tmp / f"ray{workers}", model=model, num_workers=workers, num_cpus_per_worker=cpus_each,
                         num_gpus_per_worker=gpus, batch_size=args.batch_size)
        assert counts["ok"] == args.records, counts
        label = (f"ray, {workers} GPU worker (bf16)" if gpus else
                 f"ray, {workers} worker{'s' if workers > 1 else ''} x {cpus_each:g} CPU")
        rows.append((label, args.records / counts["seconds"], args.records / counts["busy_seconds"],
                     [w["peak_rss"] for w in counts["workers"].values()]))
    ray.shutdown()
    if args.gpu:
        print("model: random Llama-3-8B-shaped, bfloat16, on cuda")

    print(f"\n{'engine':34} {'records/s end to end':>21} {'records/s busy':>15}   peak memory per worker")
    for label, e2e, busy, mem in rows:
        print(f"{label:34} {e2e:21.3f} {busy:15.3f}   {', '.join(gib(m) for m in mem)}")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
