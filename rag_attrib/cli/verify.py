"""``rag-attrib verify``: check the citations of many answers (JSONL in, JSONL or shards out), here or on Ray."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import CliInputError
from ..verdicts import VERDICTS
from .common import (
    add_model_options,
    add_threads_option,
    check_out_path,
    is_tty,
    load_attributor,
    load_options,
    memory_and_allocator,
    set_threads,
)

RAY_ONLY = ("address", "num_workers", "num_cpus_per_worker", "num_gpus_per_worker", "batch_size", "format")


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``verify`` to the subcommands ``commands``."""
    ver = commands.add_parser(
        "verify",
        help="check the [n] citations of many answers against the attribution (JSONL in, JSONL out)",
        description="For each record of INPUT (one JSON object per line: question, chunks, answer, optional "
        "prompt and id), attribute the answer with its citation markers stripped and give each sentence a "
        f"verdict: {', '.join(VERDICTS[:-1])} or {VERDICTS[-1]}. Results are written to OUT as they finish (appended "
        "to a JSONL file, or as shards in a directory with --engine ray). Rerunning with the same INPUT and OUT "
        "skips the records already written; OUT is never the input, never a file this command did not write, "
        "never results of another input, and one run at a time writes it, under whatever name (a link meets the "
        "same lock).",
    )
    ver.add_argument("input", metavar="INPUT.jsonl")
    ver.add_argument("--out", metavar="OUT", required=True,
                     help="where results go, resumable: a JSONL file (local engine, appended) or a directory of "
                     "shards (--engine ray)")
    ver.add_argument("--html", metavar="REPORT", help="also write a self-contained HTML report of all records")
    add_model_options(ver)
    add_threads_option(ver)
    ver.add_argument("--restart", action="store_true",
                     help="start over: discard the records already in OUT (only results this command wrote: the local "
                     "engine empties the file, the ray engine deletes its shards; it says how many) and verify every "
                     "record of INPUT, also when OUT was made from another input")
    ver.add_argument("--retry-errors", action="store_true",
                     help="also redo the records that failed for a reason of the run (out of memory, a worker lost: "
                     "error_kind \"run\"); records wrong as written (error_kind \"input\") stay as they are")
    scale = ver.add_argument_group("running at scale (--engine ray; pip install 'rag-attrib[ray]')")
    scale.add_argument("--engine", choices=("local", "ray"), default="local",
                       help="local: this process (default); ray: Ray Data, an actor pool of models")
    scale.add_argument("--address", metavar="ADDR",
                       help="Ray cluster to join: 'auto' (the one this machine belongs to) or ray://HOST:10001 "
                       "(default: start a local one)")
    scale.add_argument("--num-workers", type=int, metavar="N", help="actors, each holding one model (default 1)")
    scale.add_argument("--num-cpus-per-worker", type=float, metavar="C",
                       help="CPUs each actor reserves, and its torch threads (default 1)")
    scale.add_argument("--num-gpus-per-worker", type=float, metavar="G",
                       help="GPUs each actor reserves (e.g. 1, or 0.5 for two per GPU); the model goes to cuda "
                       "(default 0)")
    scale.add_argument("--batch-size", type=int, metavar="N", help="records per batch sent to an actor (default 4)")
    scale.add_argument("--format", choices=("jsonl", "parquet"), help="shard format in OUT (default jsonl)")
    scale.add_argument("--verbose", action="store_true",
                       help="show Ray's own log lines, warnings and progress (kept out of the terminal by default)")
    ver.set_defaults(func=cmd_verify)


def cmd_verify(args: argparse.Namespace, console: Any, stderr: Any) -> int:
    """Run ``verify`` as ``args`` say: the summary on ``console``, progress on ``stderr``; the exit status."""
    from ..batch import check_input_file, read_results, run_local
    from ..render.html import render_report
    from ..verification import Verification, summarize

    check_input_file(args.input)
    if args.html:
        check_out_path(args.html, "--html", "the HTML report", [args.input, args.out])
    if args.engine == "ray":
        if args.threads:
            raise CliInputError("--threads applies to the local engine; with --engine ray give --num-cpus-per-worker")
        counts, records = _verify_on_ray(args, console, stderr)
    else:
        ray_only = [f"--{k.replace('_', '-')}" for k in RAY_ONLY if getattr(args, k) is not None]
        if ray_only:
            raise CliInputError(f"{', '.join(ray_only)} only appl{'y' if len(ray_only) > 1 else 'ies'} with --engine ray")
        set_threads(args)
        memory = memory_and_allocator(args)
        load_options(args.model, not args.no_support, memory, args.judge)  # a bad option is told before OUT is touched
        counts = run_local(lambda: load_attributor(args.model, stderr, not args.no_support, memory, args.judge), args.input,
                           args.out, token_relevance=bool(args.html), restart=args.restart,
                           retry_errors=args.retry_errors, progress=is_tty(stderr))
        records = read_results(args.out)
    verified = [(r, Verification.from_dict(r)) for r in records if r["ok"]]
    summary = summarize(v for _, v in verified)
    console.print(
        f"{counts['ok']} verified, {counts['errors']} errors, {counts['skipped']} already done "
        f"-> {Path(args.out).resolve()}", highlight=False, markup=False,
    )
    if not counts["ok"] + counts["errors"] + counts["skipped"]:
        console.print(f"{args.input} holds no record (one JSON object per line): nothing to verify",
                      highlight=False, markup=False)
    for n, note in ((counts["discarded"], "records of the previous run discarded (--restart)"),
                    (counts["retried"], "error records done again (--retry-errors, or their input line was edited)"),
                    (records.duplicates, "duplicate records in the output left out (one kept per line)")):
        if n:
            console.print(f"{n} {note}", highlight=False, markup=False)
    _print_summary(summary, [r for r in records if not r["ok"]], console)
    if args.html:
        def title(r: dict[str, Any]) -> str:
            return f"line {r['line']}" + (f" · id {r['id']}" if r.get("id") is not None else "")

        # the title names the line, so the message does not repeat it
        errors = [(title(r), r["error"].removeprefix(f"line {r['line']}: ")) for r in records if not r["ok"]]
        page = render_report([(title(r), v.result, v) for r, v in verified], errors)
        try:
            Path(args.html).write_text(page, encoding="utf-8")
        except OSError as err:
            raise CliInputError(f"cannot write the HTML report to {args.html!r}: {err.strerror or err}") from None
        console.print(f"Wrote the HTML report to {Path(args.html).resolve()}", highlight=False, markup=False)
    return 0


def _verify_on_ray(args: argparse.Namespace, console: Any, stderr: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``verify --engine ray``: rag_attrib.ray_engine.run_ray, then the records read back from the shards."""
    from ..ray_engine import read_results_dir, run_ray

    def given(value: Any, default: Any) -> Any:
        return default if value is None else value

    requested = given(args.num_workers, 1)
    counts = run_ray(
        args.input, args.out, model=args.model,
        load_kwargs=load_options(args.model, not args.no_support, args.memory, args.judge),
        num_workers=requested,
        num_cpus_per_worker=given(args.num_cpus_per_worker, 1),
        num_gpus_per_worker=given(args.num_gpus_per_worker, 0), batch_size=given(args.batch_size, 4),
        fmt=given(args.format, "jsonl"), address=args.address, token_relevance=bool(args.html),
        restart=args.restart, retry_errors=args.retry_errors, verbose=args.verbose, progress=is_tty(stderr),
    )
    done = counts["ok"] + counts["errors"]
    if done:
        n = counts["num_workers"]
        fewer = f" ({requested} requested, {done} records to do)" if n < requested else ""
        work = ", ".join(f"{w['records']} ({w['peak_rss'] / 2**30:.1f} GiB)" for w in counts["workers"].values())
        idle = n - len(counts["workers"])
        idle_note = f"; {idle} got none (the others had done every batch before it was ready)" if idle > 0 else ""
        console.print(f"ray: {n} worker{'s' if n != 1 else ''}{fewer}, {done / counts['seconds']:.2f} records/s "
                      f"({counts['seconds']:.0f} s, workers' start included); records (peak memory) per worker: "
                      f"{work}{idle_note}", highlight=False, markup=False)
    return counts, read_results_dir(args.out)


def _print_summary(summary: dict[str, Any], errors: list[dict[str, Any]], console: Any) -> None:
    from rich.markup import escape

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.0%}"

    verdicts = ", ".join(f"{k} {v}" for k, v in summary["verdicts"].items())
    console.print(f"sentences: {summary['sentences']} ({verdicts})", highlight=False, markup=False)
    console.print(
        f"citation precision {pct(summary['citation_precision'])}, recall {pct(summary['citation_recall'])}, "
        f"ungrounded {pct(summary['ungrounded_share'])}, contradicted {pct(summary['contradicted_share'])}",
        highlight=False, markup=False,
    )
    unknown = summary.get("unknown_markers") or {}
    if unknown:
        keys = ", ".join(f"[{k}]" for k in list(unknown)[:5]) + (", ..." if len(unknown) > 5 else "")
        n = sum(unknown.values())
        console.print(f"{n} marker{'s name' if n != 1 else ' names'} no chunk ({keys}): "
                      f"{'they count' if n != 1 else 'it counts'} as citing nothing", highlight=False, markup=False)
    for record in errors[:10]:
        console.print(f"[red]error[/red] {escape(record['error'])}")
    if len(errors) > 10:
        console.print(f"... and {len(errors) - 10} more error records in the output", highlight=False)
