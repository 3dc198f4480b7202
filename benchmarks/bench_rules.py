"""Cost of each AttnLRP rule's forward + backward against a plain autograd multiply, measured in one run.

    python benchmarks/bench_rules.py [--tokens 2048] [--width 1536] [--repeats 30]

Every operation runs on tensors of the MLP's intermediate size (default: SmolLM2-135M's 1536 wide, 2048
tokens, float32): the forward builds the graph, one backward pulls a gradient of the output's shape back to
the inputs. The reference is ``a * b`` with both factors requiring gradients (autograd's own multiply,
whose backward is two multiplies: one per factor). Medians over interleaved repeats.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.nn.functional import silu

from rag_attrib.lrp.rules import identity_rule, scale_gradient, uniform_product


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2048)
    parser.add_argument("--width", type=int, default=1536)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    shape = (1, args.tokens, args.width)
    a = torch.randn(shape, dtype=dtype).requires_grad_(True)
    b = torch.randn(shape, dtype=dtype).requires_grad_(True)
    grad = torch.randn(shape, dtype=dtype)

    cases = {
        "plain multiply a * b (reference)": (lambda: a * b, (a, b)),
        "plain silu(x)": (lambda: silu(a), (a,)),
        "uniform_product(a, b)": (lambda: uniform_product(a, b), (a, b)),
        "identity_rule(silu, x)": (lambda: identity_rule(silu, a), (a,)),
        "scale_gradient(x, 0.25)": (lambda: scale_gradient(a, 0.25), (a,)),
    }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for _ in range(args.repeats):
        for name, (forward, inputs) in cases.items():
            start = time.perf_counter()
            out = forward()
            middle = time.perf_counter()
            torch.autograd.grad(out, inputs, grad)
            times[name].append((middle - start, time.perf_counter() - middle))

    def median(name: str, part: int | None) -> float:
        return statistics.median(f + b if part is None else (f, b)[part] for f, b in times[name])

    reference = next(iter(cases))
    print(f"shape {shape}, {args.dtype}, {torch.get_num_threads()} threads, {args.repeats} repeats (medians)")
    print(f"{'operation':34} {'forward':>9} {'backward':>9} {'fwd+bwd':>9}   ratio fwd+bwd / reference")
    for name in cases:
        f, b, total = median(name, 0), median(name, 1), median(name, None)
        print(f"{name:34} {f * 1e3:7.2f}ms {b * 1e3:7.2f}ms {total * 1e3:7.2f}ms   "
              f"{total / median(reference, None):5.2f}")


if __name__ == "__main__":
    main()
