"""Citations while the answer streams, against attribute() on the finished answer, measured in one run.

    PYTHONPATH=. python benchmarks/bench_stream.py [--model smollm2] [--threads 1] [--cases 2] [--split test]

For the first ``--cases`` cases of the realistic set, each way runs in a process of its own (so that each
peak resident memory is its own; the model is loaded and a short attribution and stream run first, to warm up):

- ``batch``: ``attribute()`` on the finished answer (the answer given: proxy);
- ``stream``: the same answer fed to ``Attributor.open_stream`` one token's text at a time, as an API streams
  it, pieces arriving at once (so the time is attribution's alone); per sentence, the time from the piece that
  settles it to its citations (the ``feed`` call that returns it, or ``finish`` for the last one) and how many
  pieces after its last one that piece came;
- ``batch``/``stream`` with ``memory="low"`` (the stream then recomputes each sentence over the prompt and the
  answer up to its end, layer by layer);
- with ``--generate``, also the local model writing the answer: ``attribute(answer=None)`` (generate, then
  attribute) against ``stream(answer=None)`` (one forward pass for both).

Prints each measurement, the ratios stream / batch, the per-sentence latencies (median, 95th percentile) and
whether the streamed citations equal the batch ones (top chunk of every sentence, hit@1 on the labelled gold).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

WAYS = [("batch", "fast"), ("stream", "fast"), ("batch", "low"), ("stream", "low")]


def token_pieces(tokenizer, text: str) -> list[str]:
    """``text`` cut where its tokens start: the pieces a streaming API would send."""
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    starts = sorted({s for s, _ in offsets if s > 0})
    return [text[a:b] for a, b in zip([0, *starts], [*starts, len(text)])]


def worker(args: argparse.Namespace) -> None:
    """One way on one case, in this process: prints one JSON line."""
    import torch

    from rag_attrib import Attributor
    from rag_attrib.eval.data import load_cases

    torch.set_num_threads(args.threads)
    case = load_cases(f"realistic-{args.split}")[args.case]
    attributor = Attributor.load(args.model, memory=args.memory, support=None)
    chunks, question = list(case.chunks), case.question
    answer = None if args.way.startswith("gen") else case.answer
    pieces = None if answer is None else token_pieces(attributor.tokenizer, answer)

    def run() -> tuple[object, list[float], list[int]]:
        latencies, waits = [], []
        if args.way in ("batch", "gen-batch"):
            return attributor.attribute(question, chunks, answer), latencies, waits
        if args.way == "gen-stream":
            *_, result = attributor.stream(question, chunks)
            return result, latencies, waits
        stream = attributor.open_stream(question, chunks)
        text = ""
        for piece in pieces:
            text += piece
            start = time.perf_counter()
            settled = stream.feed(piece)
            took = time.perf_counter() - start
            for sentence in settled:
                latencies.append(took)
                waits.append(sum(1 for _ in _pieces_after(pieces, sentence.span.end, len(text))))
        start = time.perf_counter()
        result = stream.finish()
        latencies += [time.perf_counter() - start] * (len(result.sentences) - len(latencies))
        waits += [0] * (len(result.sentences) - len(waits))
        return result, latencies, waits

    attributor.attribute("Who built it?", ["The lighthouse was built by Harald Voss."], "Harald Voss built it.")
    list(attributor.stream("Who built it?", ["The lighthouse was built by Harald Voss."], ["Harald ", "Voss."]))
    start = time.perf_counter()
    result, latencies, waits = run()
    seconds = time.perf_counter() - start
    labelled = {s.text: set(s.gold or ()) for s in case.sentences}
    tops = [s.top.chunk_id if s.top else None for s in result.sentences]
    hits = [top in labelled[s.text] for s, top in zip(result.sentences, tops) if labelled.get(s.text)]
    print(json.dumps({
        "seconds": seconds, "latencies": latencies, "waits": waits, "tops": tops, "hits": hits,
        "shares": [[c.share for c in s.citations] for s in result.sentences],
        "tokens": len(attributor.tokenizer(result.prompt + result.answer)["input_ids"]),
        "sentences": len(result.sentences), "answer": result.answer,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }))


def _pieces_after(pieces: list[str], end: int, fed: int):
    """The pieces fed after the one holding character ``end - 1`` (the sentence's last), up to ``fed`` chars."""
    pos = 0
    for piece in pieces:
        pos += len(piece)
        if pos > fed:
            return
        if pos - len(piece) >= end:
            yield piece


def measure(args: argparse.Namespace, case: int, way: str, memory: str) -> dict:
    command = [sys.executable, __file__, "--worker", "--case", str(case), "--way", way, "--memory", memory,
               "--model", args.model, "--threads", str(args.threads), "--split", args.split]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{way} ({memory}) on case {case} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cases", type=int, default=2, help="how many cases of the realistic split (first ones)")
    parser.add_argument("--split", default="test", choices=["dev", "test"])
    parser.add_argument("--generate", action="store_true", help="also measure the local model writing the answer")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--case", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--way", default="batch", help=argparse.SUPPRESS)
    parser.add_argument("--memory", default="fast", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    print(f"model {args.model}, {args.threads} thread(s), first {args.cases} case(s) of realistic-{args.split}; "
          "times in seconds, each in a process of its own")
    latencies: dict[str, list[float]] = {"fast": [], "low": []}
    ratios: dict[str, list[float]] = {"fast": [], "low": []}
    same_tops, hits = [], {"batch": [], "stream": []}
    for case in range(args.cases):
        got = {(way, memory): measure(args, case, way, memory) for way, memory in WAYS}
        batch = got["batch", "fast"]
        print(f"\ncase {case}: {batch['tokens']} tokens, {batch['sentences']} sentences")
        for (way, memory), m in got.items():
            extra = ""
            if way == "stream":
                ratio = m["seconds"] / got["batch", memory]["seconds"]
                ratios[memory].append(ratio)
                latencies[memory] += m["latencies"]
                extra = (f"  = {ratio:.2f}x batch; per sentence {', '.join(f'{x:.2f}' for x in m['latencies'])} s "
                         f"after {', '.join(map(str, m['waits']))} more piece(s)")
            print(f"  {way:6s} memory={memory:4s} {m['seconds']:7.2f} s  peak RSS {m['peak_rss'] / 2**30:.2f} GiB{extra}")
        for memory in ("fast", "low"):
            stream = got["stream", memory]
            same_tops.append(stream["tops"] == batch["tops"])
            diff = max(abs(a - b) for x, y in zip(stream["shares"], batch["shares"]) for a, b in zip(x, y))
            print(f"  stream ({memory}) vs batch: same top chunk in every sentence: {stream['tops'] == batch['tops']},"
                  f" largest share difference {diff:.1e}")
        hits["batch"] += batch["hits"]
        hits["stream"] += got["stream", "fast"]["hits"]
        if args.generate:
            gen = {way: measure(args, case, way, "fast") for way in ("gen-batch", "gen-stream")}
            print(f"  local model writes: generate + attribute {gen['gen-batch']['seconds']:.2f} s, streamed "
                  f"{gen['gen-stream']['seconds']:.2f} s = {gen['gen-stream']['seconds'] / gen['gen-batch']['seconds']:.2f}x"
                  f" (same answer: {gen['gen-stream']['answer'] == gen['gen-batch']['answer']}, same tops: "
                  f"{gen['gen-stream']['tops'] == gen['gen-batch']['tops']})")

    print("\nsummary")
    for memory in ("fast", "low"):
        lat = latencies[memory]
        print(f"  memory={memory}: stream / batch total time {statistics.median(ratios[memory]):.2f}x (median over "
              f"cases; {', '.join(f'{r:.2f}' for r in ratios[memory])}); latency from the settling piece to the "
              f"citations: median {statistics.median(lat):.2f} s, p95 {percentile(lat, 0.95):.2f} s "
              f"over {len(lat)} sentences")
    print(f"  identical top chunks, stream vs batch: {sum(same_tops)}/{len(same_tops)} (case, memory) pairs; hit@1 "
          f"batch {sum(hits['batch'])}/{len(hits['batch'])}, stream {sum(hits['stream'])}/{len(hits['stream'])}")


if __name__ == "__main__":
    main()
