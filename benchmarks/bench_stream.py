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

``--check FILE`` compares citations only, over every answer of the split (or the first ``--cases``), in one
process with the model loaded once and the attributor's defaults (its support model included): per answer
``attribute()`` and the same answer streamed token by token, one JSON line per answer appended to FILE (an
interrupted run goes on from where it stopped), then the summary: hit@1 both ways and the sentences whose top
chunk or cited set differ, between the final results and between each streamed sentence and the batch one
(streamed sentences cite by their shares alone, without support; the last sentence comes only in the final
result).
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


class Clock:
    """Seconds spent in the engine's backward passes (each ``torch.autograd.grad``) and in the stream's forward
    steps (``GrowingGraph.extend``), to put a sentence's latency beside its own backward pass."""

    def __init__(self) -> None:
        import torch

        from rag_attrib.lrp.incremental import GrowingGraph

        self.backwards: list[float] = []
        self.forwards: list[float] = []
        self._wrap(torch.autograd, "grad", self.backwards)
        self._wrap(GrowingGraph, "extend", self.forwards)

    @staticmethod
    def _wrap(owner, name: str, into: list[float]) -> None:
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                into.append(time.perf_counter() - start)

        setattr(owner, name, timed)

    def mark(self) -> tuple[int, int]:
        return len(self.backwards), len(self.forwards)

    def since(self, mark: tuple[int, int]) -> tuple[float, float]:
        """(backward, forward) seconds since ``mark``."""
        return sum(self.backwards[mark[0]:]), sum(self.forwards[mark[1]:])


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

    clock = Clock()
    parts: list[tuple[float, float]] = []  # per streamed sentence: (backward, forward) seconds in its latency

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
            start, mark = time.perf_counter(), clock.mark()
            settled = stream.feed(piece)
            took = time.perf_counter() - start
            for sentence in settled:
                latencies.append(took)
                parts.append(clock.since(mark))
                waits.append(sum(1 for _ in _pieces_after(pieces, sentence.span.end, len(text))))
        start, mark = time.perf_counter(), clock.mark()
        result = stream.finish()
        left = len(result.sentences) - len(latencies)
        latencies += [time.perf_counter() - start] * left
        parts.extend([clock.since(mark)] * left)
        waits += [0] * (len(result.sentences) - len(waits))
        return result, latencies, waits

    attributor.attribute("Who built it?", ["The lighthouse was built by Harald Voss."], "Harald Voss built it.")
    list(attributor.stream("Who built it?", ["The lighthouse was built by Harald Voss."], ["Harald ", "Voss."]))
    start, mark = time.perf_counter(), clock.mark()
    result, latencies, waits = run()
    seconds = time.perf_counter() - start
    backward, forward = clock.since(mark)
    labelled = {s.text: set(s.gold or ()) for s in case.sentences}
    tops = [s.top.chunk_id if s.top else None for s in result.sentences]
    hits = [top in labelled[s.text] for s, top in zip(result.sentences, tops) if labelled.get(s.text)]
    print(json.dumps({
        "seconds": seconds, "latencies": latencies, "waits": waits, "parts": parts, "backward": backward,
        "forward": forward, "tops": tops, "hits": hits,
        "shares": [[c.share for c in s.citations] for s in result.sentences],
        "tokens": len(attributor.tokenizer(result.prompt + result.answer)["input_ids"]),
        "sentences": len(result.sentences), "answer": result.answer,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }))


def check(args: argparse.Namespace) -> None:
    """Citations of ``attribute()`` against the streamed ones, answer by answer (the ``--check`` mode)."""
    import os

    import torch

    from rag_attrib import AttributionResult, Attributor
    from rag_attrib.eval.data import load_cases

    torch.set_num_threads(args.threads)
    cases = load_cases(f"realistic-{args.split}")
    cases = cases[: args.cases] if args.cases else cases
    done = set()
    if os.path.exists(args.check):
        with open(args.check) as f:
            done = {json.loads(line)["case"] for line in f if line.strip()}
    attributor = Attributor.load(args.model, memory=args.memory)
    for index, case in enumerate(cases):
        if index in done:
            continue
        chunks = list(case.chunks)
        start = time.perf_counter()
        batch = attributor.attribute(case.question, chunks, case.answer)
        batch_seconds = time.perf_counter() - start
        start = time.perf_counter()
        items = list(attributor.stream(case.question, chunks, token_pieces(attributor.tokenizer, case.answer)))
        stream_seconds = time.perf_counter() - start
        final = items[-1]
        assert isinstance(final, AttributionResult)
        streamed = items[:-1]
        labelled = {s.text: sorted(s.gold or ()) for s in case.sentences}

        def view(sentences) -> dict:
            return {"tops": [s.top.chunk_id if s.top else None for s in sentences],
                    "cited": [sorted(s.cited) for s in sentences], "texts": [s.text for s in sentences],
                    "shares": [[c.share for c in s.citations] for s in sentences]}

        record = {"case": index, "gold": [labelled.get(s.text) for s in batch.sentences],
                  "batch": view(batch.sentences), "final": view(final.sentences), "streamed": view(streamed),
                  "batch_seconds": batch_seconds, "stream_seconds": stream_seconds}
        with open(args.check, "a") as f:
            f.write(json.dumps(record) + "\n")
        print(f"case {index}: {len(batch.sentences)} sentences, batch {batch_seconds:.1f} s, streamed "
              f"{stream_seconds:.1f} s, same tops {record['final']['tops'] == record['batch']['tops']}", flush=True)
    summarize_check(args.check)


def summarize_check(path: str) -> None:
    """Hit@1 and the differing sentences over the records of a ``--check`` file."""
    with open(path) as f:
        records = [json.loads(line) for line in f if line.strip()]
    sentences = sum(len(r["batch"]["tops"]) for r in records)
    print(f"\n{len(records)} answers, {sentences} sentences")
    for way in ("batch", "final", "streamed"):
        hits = [top in gold for r in records for top, gold in zip(r[way]["tops"], r["gold"]) if gold]
        print(f"  hit@1 {way:8s} {sum(hits)}/{len(hits)} labelled sentences")
    for way in ("final", "streamed"):
        pairs = [(a, b, x, y, sa, sb) for r in records
                 for a, b, x, y, sa, sb in zip(r[way]["tops"], r["batch"]["tops"], r[way]["cited"],
                                               r["batch"]["cited"], r[way]["shares"], r["batch"]["shares"])]
        texts = sum(r[way]["texts"] != r["batch"]["texts"][: len(r[way]["texts"])] for r in records)
        diff = max((abs(u - v) for *_, sa, sb in pairs for u, v in zip(sa, sb)), default=0.0)
        print(f"  {way} vs batch: {len(pairs)} sentences, top chunk differs in {sum(a != b for a, b, *_ in pairs)},"
              f" cited set differs in {sum(x != y for _, _, x, y, *_ in pairs)}, answers split differently "
              f"{texts}, largest share difference {diff:.1e}")


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
    parser.add_argument("--cases", type=int, default=None,
                        help="how many cases of the realistic split (first ones; default 2, with --check all)")
    parser.add_argument("--start", type=int, default=0, help="the first case measured")
    parser.add_argument("--memories", default="fast,low", help="the memory modes measured (comma-separated)")
    parser.add_argument("--split", default="test", choices=["dev", "test"])
    parser.add_argument("--generate", type=int, nargs="?", const=-1, default=0, metavar="N",
                        help="also measure the local model writing the answer (on the first N cases; all without N)")
    parser.add_argument("--save", metavar="FILE", help="append each measurement as a JSON line to FILE")
    parser.add_argument("--summarize", metavar="FILE", help="only print the summary of the measurements saved in FILE")
    parser.add_argument("--check", metavar="FILE", help="compare citations only, over every answer (see above)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--case", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--way", default="batch", help=argparse.SUPPRESS)
    parser.add_argument("--memory", default="fast", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.check:
        check(args)
        return
    if args.summarize:
        with open(args.summarize) as f:
            report([json.loads(line) for line in f if line.strip()], summary=True)
        return

    args.cases = args.cases or 2
    memories = args.memories.split(",")
    cases = range(args.start, args.start + args.cases)
    print(f"model {args.model}, {args.threads} thread(s), cases {cases.start}-{cases.stop - 1} of "
          f"realistic-{args.split}, memory {', '.join(memories)}; times in seconds, each in a process of its own")
    records = []
    for case in cases:
        got = [{"case": case, "way": way, "memory": memory, **measure(args, case, way, memory)}
               for memory in memories for way in ("batch", "stream")]
        if args.generate < 0 or case - args.start < args.generate:
            got += [{"case": case, "way": way, "memory": "fast", **measure(args, case, way, "fast")}
                    for way in ("gen-batch", "gen-stream")]
        if args.save:
            with open(args.save, "a") as f:
                f.writelines(json.dumps(m) + "\n" for m in got)
        report(got)
        records += got
    report(records, summary=True)


def report(records: list[dict], summary: bool = False) -> None:
    """Print the measurements of one case, or (``summary``) the summary over all cases."""
    got = {(m["case"], m["way"], m["memory"]): m for m in records}
    cases = sorted({m["case"] for m in records})
    print("\nsummary" if summary else "")
    for memory in ("fast", "low"):
        pairs = [(got[c, "batch", memory], got[c, "stream", memory]) for c in cases if (c, "stream", memory) in got]
        if not pairs:
            continue
        latencies, own, versus, ratios = [], [], [], []
        for batch, stream in pairs:
            ratios.append(stream["seconds"] / batch["seconds"])
            backward = batch["backward"] / batch["sentences"]  # a sentence's own backward pass in attribute()
            goals = [backward + forward for _, forward in stream["parts"]]
            latencies += stream["latencies"]
            own += goals
            versus += [x / g for x, g in zip(stream["latencies"], goals)]
            if not summary:
                diff = max(abs(a - b) for x, y in zip(stream["shares"], batch["shares"]) for a, b in zip(x, y))
                print(f"case {batch['case']}: {batch['tokens']} tokens, {batch['sentences']} sentences, "
                      f"memory={memory}\n"
                      f"  batch  {batch['seconds']:7.2f} s  peak RSS {batch['peak_rss'] / 2**30:.2f} GiB; backward "
                      f"{batch['backward']:.2f} s, {backward:.2f} per sentence\n"
                      f"  stream {stream['seconds']:7.2f} s  peak RSS {stream['peak_rss'] / 2**30:.2f} GiB = "
                      f"{ratios[-1]:.2f}x batch\n"
                      f"  per sentence {', '.join(f'{x:.2f}' for x in stream['latencies'])} s after "
                      f"{', '.join(map(str, stream['waits']))} more piece(s); of which backward "
                      f"{', '.join(f'{b:.2f}' for b, _ in stream['parts'])}, forward "
                      f"{', '.join(f'{f:.2f}' for _, f in stream['parts'])}\n"
                      f"  same top chunk in every sentence: {stream['tops'] == batch['tops']}, largest share "
                      f"difference {diff:.1e}")
        if summary:
            hits = [h for b, s in pairs for h in b["hits"]], [h for b, s in pairs for h in s["hits"]]
            print(f"  memory={memory}, {len(pairs)} case(s): stream / batch total time {statistics.median(ratios):.2f}x "
                  f"(median; {', '.join(f'{r:.2f}' for r in ratios)})\n"
                  f"    latency from the settling piece to the citations: median {statistics.median(latencies):.2f} s,"
                  f" p95 {percentile(latencies, 0.95):.2f} s over {len(latencies)} sentences\n"
                  f"    its own backward (attribute()'s per sentence) plus its tokens' forward: median "
                  f"{statistics.median(own):.2f} s; latency / that: median {statistics.median(versus):.2f}, p95 "
                  f"{percentile(versus, 0.95):.2f}\n"
                  f"    peak RSS (median) batch {statistics.median(b['peak_rss'] for b, _ in pairs) / 2**30:.2f} GiB, "
                  f"stream {statistics.median(s['peak_rss'] for _, s in pairs) / 2**30:.2f} GiB\n"
                  f"    same top chunks in {sum(b['tops'] == s['tops'] for b, s in pairs)}/{len(pairs)} cases; hit@1 "
                  f"batch {sum(hits[0])}/{len(hits[0])}, stream {sum(hits[1])}/{len(hits[1])}")
    for case in cases:
        if (case, "gen-stream", "fast") in got:
            batch, stream = got[case, "gen-batch", "fast"], got[case, "gen-stream", "fast"]
            print(f"{'  ' if summary else ''}case {case}, local model writes: generate + attribute "
                  f"{batch['seconds']:.2f} s, streamed {stream['seconds']:.2f} s = "
                  f"{stream['seconds'] / batch['seconds']:.2f}x (same answer: {stream['answer'] == batch['answer']}, "
                  f"same tops: {stream['tops'] == batch['tops']}; {stream['sentences']} sentences, peak RSS "
                  f"{batch['peak_rss'] / 2**30:.2f} / {stream['peak_rss'] / 2**30:.2f} GiB)")

if __name__ == "__main__":
    main()
