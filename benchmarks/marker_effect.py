"""Does an inline citation marker ("[2]") in the answer move the attribution?

For every answer of a labelled set, the same sentences are attributed three ways: without markers, with each
supported sentence's gold chunk number before its full stop ("... in 1872 [1]."), and with a wrong chunk's number
on every sentence. Prints, over the supported sentences: how often the top chunk is the gold one, how often it is
the chunk the marker names, and the mean best share. Markers count in no sentence's target (``prompt.encode``'s
``skip``), so all three should agree; before that, a marker lowered the best shares.

    python benchmarks/marker_effect.py [--data short-dev] [--model qwen2.5-0.5b] [--limit 12] [--threads 1]
"""

from __future__ import annotations

import argparse
import random

import torch

from rag_attrib import Attributor
from rag_attrib.eval import load_many
from rag_attrib.types import Span

MODES = ("none", "right", "wrong")


def with_markers(case, mode: str, rng: random.Random) -> tuple[list[str], list[int | None]]:
    """The answer's sentences with a marker each (``mode``), and the chunk index each marker names."""
    ids = [c.id for c in case.chunks]
    texts, named = [], []
    for sentence in case.sentences:
        if mode == "none":
            texts.append(sentence.text)
            named.append(None)
            continue
        if mode == "right" and sentence.gold:
            k = ids.index(sentence.gold[0])
        else:
            k = rng.choice([i for i, chunk_id in enumerate(ids) if chunk_id not in sentence.gold])
        text = sentence.text
        texts.append(f"{text[:-1]} [{k + 1}]{text[-1]}" if text[-1] in ".!?" else f"{text} [{k + 1}]")
        named.append(k)
    return texts, named


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", action="append", help="shipped set or JSONL file (default: short-dev)")
    parser.add_argument("--model", default=None)
    parser.add_argument("--limit", type=int, default=12, help="answers per set")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    attributor = Attributor.load(args.model, support=None, evidence="none", keep_token_relevance=False)
    rng = random.Random(0)
    n, gold, marked, share = (dict.fromkeys(MODES, 0.0) for _ in range(4))
    for case in load_many(args.data or ["short-dev"], limit=args.limit):
        for mode in MODES:
            texts, named = with_markers(case, mode, rng)
            spans, pos = [], 0
            for text in texts:
                spans.append(Span(pos, pos + len(text)))
                pos += len(text) + 1
            result = attributor.attribute(case.question, case.chunks, " ".join(texts), sentences=spans)
            for sentence, attributed, k in zip(case.sentences, result.sentences, named):
                if sentence.supported:
                    top = attributed.citations[0].chunk_id
                    n[mode] += 1
                    gold[mode] += top in sentence.gold
                    marked[mode] += k is not None and top == case.chunks[k].id
                    share[mode] += attributed.citations[0].share
    print(f"{attributor.model_name}, {int(n['none'])} supported sentences")
    for mode in MODES:
        print(f"  markers {mode:5}  top = gold {gold[mode] / n[mode]:.3f}  top = marked chunk "
              f"{marked[mode] / n[mode]:.3f}  mean best share {share[mode] / n[mode]:.3f}")


if __name__ == "__main__":
    main()
