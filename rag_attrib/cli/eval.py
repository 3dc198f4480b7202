"""``rag-attrib eval``: every attribution method on labelled cases, one table; a stopped run goes on where it
stopped (its finished answers are kept beside the report)."""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import CliInputError
from ..types import finite_json
from .common import (
    add_model_options,
    add_threads_option,
    check_out_path,
    is_tty,
    load_attributor,
    progress_line,
    set_threads,
    version,
)


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``eval`` to the subcommands ``commands``."""
    ev = commands.add_parser(
        "eval",
        help="measure faithfulness and plausibility of AttnLRP against baselines and peers on labelled cases",
        description="Run each attribution method on labelled RAG cases (default: every shipped set, the realistic "
        "one by its dev split) and "
        "print one table: hit@1 and MRR of the gold chunk, the drop in each sentence's log-probability when "
        "its top-k chunks are removed (comp@k) or kept alone (suff@k), how often unsupported sentences are "
        "flagged, and time and passes per answer. Methods: attnlrp, support (AttnLRP with the model's support "
        "model, where it has one), gradxinput, attention, lexical, embedding, random, loo, contextcite, "
        "contextcite16 (the last two need `pip install context-cite`).",
    )
    ev.add_argument("--data", metavar="PATH", action="append",
                    help="a JSONL file of cases, or a shipped set: fictional, paraphrase, short-dev, realistic-dev, "
                    "realistic-test, families-dev, families-test (default: all but the test splits); repeatable")
    ev.add_argument("--methods", metavar="a,b,c", help="comma-separated methods (default: all that can run here)")
    ev.add_argument("--json", metavar="OUT", default="rag_attrib_eval.json",
                    help="where to write the table and per-sentence scores (default: rag_attrib_eval.json)")
    ev.add_argument("--limit", metavar="N", type=int, help="only the first N cases of each data set")
    add_model_options(ev, memory=False)
    ev.add_argument("--k", metavar="1,2,3", default="1,2,3", help="numbers of top chunks to ablate (default 1,2,3)")
    ev.add_argument("--seed", type=int, default=0, help="seed of the random baseline and of tie-breaking")
    add_threads_option(ev)
    ev.add_argument("--restart", action="store_true",
                    help="start over: discard the answers an earlier, stopped run of this command kept in "
                    "OUT.partial.jsonl (without it the run goes on where that one stopped)")
    ev.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace, console: Any, stderr: Any) -> int:
    """Faithfulness and plausibility of every attribution method on labelled cases (rag_attrib.eval), as ``args``
    say: the table on ``console``, progress on ``stderr``; the exit status."""
    with progress_line(stderr, "Starting: importing torch and transformers…"):
        from ..eval import load_many, print_table, resolve_methods, run_eval
        from ..eval.checkpoint import Checkpoint, answer_checker, model_settings, run_settings
        from ..eval.table import answers_phrase

    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    try:
        names, skipped = resolve_methods(methods)
        ks = sorted({int(k) for k in args.k.split(",") if k.strip()})
    except ValueError as err:
        raise CliInputError(f"{err}") from None
    if not names:
        raise CliInputError("none of the requested methods can run here: " + "; ".join(skipped.values()))
    if not ks or min(ks) < 1:
        raise CliInputError("--k takes positive integers, e.g. --k 1,2,3")
    if args.limit is not None and args.limit < 1:
        raise CliInputError("--limit must be at least 1")
    cases = load_many(args.data, args.limit)
    if args.json:
        check_out_path(args.json, "--json", "the JSON report", list(args.data or []))
    kept_in = _checkpoint_path(args)
    with _one_run(args.json) if kept_in else contextlib.nullcontext():
        settings = run_settings(args, names, cases, ks, version()) if kept_in else {}
        if kept_in and not args.restart:
            Checkpoint.check(kept_in, settings)  # what can be told before the model loads (minutes)
        set_threads(args)
        attributor = load_attributor(args.model, stderr, not args.no_support, judge=args.judge)
        names, skipped = resolve_methods(methods, attributor)  # now also what this model cannot do
        if not names:
            raise CliInputError("none of the requested methods can run with this model: " + "; ".join(skipped.values()))
        checkpoint = _eval_checkpoint(kept_in, {**settings, **model_settings(attributor, names)}, args.restart,
                                      answer_checker(cases, names, ks), stderr) if kept_in else None
        what = f"Evaluating {len(names)} method{'s' if len(names) != 1 else ''}"
        with progress_line(stderr, what, total=len(cases)) as update:
            started, first = time.monotonic(), None

            def progress(done: int, total: int, case_id: str) -> None:
                nonlocal first
                first = done if first is None else first  # answers resumed from the checkpoint took no time here
                update(f"{what} on {case_id or 'the answers'}", completed=done)
                if not is_tty(stderr) and case_id:  # a log file gets one line per answer instead of a bar
                    ran = done - first
                    seconds_left = (time.monotonic() - started) / ran * (total - done) if ran else None
                    left = "" if seconds_left is None else f" (about {_duration(seconds_left)} left)"
                    stderr.print(f"answer {done + 1}/{total} {case_id}{left}", highlight=False, markup=False)

            try:
                report = run_eval(attributor, cases, names, ks=ks, seed=args.seed, progress=progress,
                                  finished=dict(checkpoint.finished) if checkpoint else None, on_case=checkpoint)
            except BaseException:  # Ctrl-C, out of memory, a bug: what is done is kept, and the user is told so
                if checkpoint and checkpoint.kept:
                    stderr.print(f"kept {answers_phrase(checkpoint.kept)} of {len(cases)} in {checkpoint.path}: "
                                 "the same command goes on from there", highlight=False, markup=False)
                raise
        report["skipped"] = {**skipped, **report["skipped"]}
        print_table(report, console)
        if args.json:
            try:
                Path(args.json).write_text(finite_json(report, "the eval report", indent=1) + "\n", encoding="utf-8")
            except OSError as err:
                raise CliInputError(f"cannot write the JSON report to {args.json!r}: {err.strerror or err}") from None
            if checkpoint:
                checkpoint.remove()
            console.print(f"Wrote the table and every sentence's scores (JSON) to {Path(args.json).resolve()}",
                          highlight=False, markup=False)
        return 0


@contextmanager
def _one_run(report: str) -> Iterator[None]:
    """One ``eval`` at a time per report: a second would do all the work again and delete the first's answers."""
    from ..batch import locked

    with locked(Path(report).with_name(f".{Path(report).name}.lock"), report, flag="--json"):
        yield


def _checkpoint_path(args: argparse.Namespace) -> str | None:
    """Where eval keeps its finished answers until the report is written: beside ``--json``; nowhere where
    nothing is written, or where the report goes to something other than a file (/dev/null)."""
    if not args.json or (Path(args.json).exists() and not Path(args.json).is_file()):
        return None
    return f"{args.json}.partial.jsonl"


def _eval_checkpoint(path: str, settings: dict[str, Any], restart: bool, check_answer: Callable[[Any], str | None],
                     stderr: Any) -> Any:
    """The answers of an earlier run of the same command stopped before the end, kept in ``path``."""
    from ..eval.checkpoint import Checkpoint
    from ..eval.table import answers_phrase

    try:
        checkpoint = Checkpoint(path, settings, restart=restart, check_answer=check_answer)
    except OSError as err:
        raise CliInputError(f"cannot keep the finished answers in {path!r}: {err.strerror or err}") from None
    bad = checkpoint.set_aside
    if bad:
        lines = f"{len(bad)} lines" if len(bad) != 1 else "1 line"
        listed = "".join(f"\n  {why}" for why in bad[:10]) + (f"\n  and {len(bad) - 10} more" if len(bad) > 10 else "")
        stderr.print(f"set aside {lines} of {path} that hold no answer this run can use (a corrupted file), and "
                     f"{'their answers run' if len(bad) != 1 else 'its answer runs'} again:{listed}",
                     highlight=False, markup=False)
    if checkpoint.kept:
        stderr.print(f"going on from {answers_phrase(checkpoint.kept)} already done in {path} "
                     "(--restart starts over)", highlight=False, markup=False)
    return checkpoint


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"
