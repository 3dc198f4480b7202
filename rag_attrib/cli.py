"""``rag-attrib``: attribute each sentence of a RAG answer to the retrieved chunks, from the command line.

    rag-attrib demo [--model M] [--json OUT] [--html REPORT]
    rag-attrib attribute --chunks FILE --question Q [--answer A | --answer-file F] [--prompt-file P]
                         [--model M] [--json OUT] [--html REPORT] [--target token|max|logprob]
    rag-attrib verify INPUT.jsonl --out OUT.jsonl [--html REPORT] [--model M]
    rag-attrib verify INPUT.jsonl --out OUT_DIR --engine ray [--address auto] [--num-workers N]
                      [--num-gpus-per-worker G] [--batch-size N] [--format jsonl|parquet]
    rag-attrib eval [--data PATH] [--methods a,b,c] [--json OUT] [--limit N] [--model M] [--k 1,2,3] [--restart]
    rag-attrib check-model MODEL
    rag-attrib serve [--host 127.0.0.1] [--port 8000] [--model M] [--workers N] [--token T] [--queue N]

The model is loaded only inside the commands, so ``rag-attrib --help`` never touches it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .chunk_file import read_chunks
from .demo import DEMO
from .errors import CliInputError, RagAttribError
from .text import is_blank
from .types import MEMORY_CHOICES, TARGETS, finite_json
from .verdicts import VERDICTS

if TYPE_CHECKING:
    from .types import AttributionResult

DEFAULT_DEMO_JSON = "rag_attrib_demo.json"


# ---------------------------------------------------------------------------------------------- reading input


def _read_text(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8-sig")  # -sig: a byte order mark is not text
    except FileNotFoundError:
        raise CliInputError(f"{what} {path!r} does not exist; check the path") from None
    except UnicodeDecodeError as err:
        raise CliInputError(f"{what} {path!r} is not UTF-8 text ({err.reason}); save it as UTF-8") from None
    except OSError as err:
        raise CliInputError(f"cannot read {what} {path!r}: {err.strerror or err}") from None


def _write_json(result: AttributionResult, out: str) -> Path:
    path = Path(out)
    try:
        path.write_text(result.to_json() + "\n", encoding="utf-8")
    except OSError as err:
        raise CliInputError(f"cannot write the JSON result to {out!r}: {err.strerror or err}") from None
    return path


# ---------------------------------------------------------------------------------------------- commands


@contextmanager
def _progress(stderr: Any, what: str, total: int | None = None) -> Iterator[Callable[..., None]]:
    """While a slow step runs, one transient line on a terminal: a spinner, what is happening, a bar when the
    amount of work is known, the time so far. Nothing at all when stderr is not a terminal (piped, a log file).

    Yields ``update(description=None, completed=None)``.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is not None:
        columns += [BarColumn(), MofNCompleteColumn(), TextColumn("left"), TimeRemainingColumn()]
    columns.append(TimeElapsedColumn())
    with Progress(*columns, console=stderr, transient=True, disable=not _is_tty(stderr)) as progress:
        task = progress.add_task(what, total=total)

        def update(description: str | None = None, completed: int | None = None) -> None:
            progress.update(task, description=description, completed=completed, refresh=True)  # drawn now

        yield update


class _OnConversion(logging.Handler):
    """Says when rag_attrib.model starts the slow first load (assembling a model from its packages, converting a
    GGUF file): on the progress line on a terminal, as a line of its own in a log file."""

    def __init__(self, update: Callable[..., None], stderr: Any) -> None:
        super().__init__(logging.INFO)
        self.update, self.stderr = update, stderr

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("converting "):
            what = "Converting the model from GGUF, once (20 s to minutes; later loads take seconds)…"
        elif message.startswith("assembling "):
            what = "Assembling the model from its packages, once…"
        else:
            return
        if _is_tty(self.stderr):
            self.update(what)
        else:
            self.stderr.print(what, highlight=False, markup=False)


def _load(model: str | None, stderr: Any, support: bool = True, memory: str | int = "auto") -> Any:
    with _progress(stderr, "Starting: importing torch and transformers…") as update:
        from transformers.utils import logging as hf_logging

        from .attribute import Attributor  # heavy (torch, transformers): only when a command runs
        from .model import load_message

        hf_logging.disable_progress_bar()  # a "Loading weights" bar would fight with the progress line
        update(load_message(model))
        model_log, handler = logging.getLogger("rag_attrib.model"), _OnConversion(update, stderr)
        level = model_log.level
        model_log.addHandler(handler)
        if not model_log.isEnabledFor(logging.INFO):
            model_log.setLevel(logging.INFO)
        try:
            return Attributor.load(model, **_load_options(support, memory))
        finally:
            model_log.removeHandler(handler)
            model_log.setLevel(level)


def _load_options(support: bool, memory: str | int) -> dict[str, Any]:
    """What ``--no-support`` and ``--memory`` ask of ``Attributor.load``, in this process or the Ray workers."""
    return {"memory": memory} if support else {"memory": memory, "support": None}


def _threads_option(text: str) -> int:
    """``--threads``: a positive number of torch CPU threads."""
    try:
        threads = int(text)
    except ValueError:
        threads = 0
    if threads < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of threads, e.g. 2")
    return threads


def _set_threads(args: argparse.Namespace) -> None:
    """``--threads``: how many CPU threads torch uses in this process (default: torch's, usually the physical cores)."""
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)


def _memory_option(text: str) -> str | int:
    """``--memory``: auto, fast, low, or a budget in bytes with an optional K, M or G (binary units)."""
    if text in MEMORY_CHOICES:
        return text
    units = {"K": 2**10, "M": 2**20, "G": 2**30}
    number, unit = (text[:-1], units[text[-1].upper()]) if text[-1:].upper() in units else (text, 1)
    try:
        budget = int(float(number) * unit)
    except (ValueError, OverflowError):  # also inf and nan
        budget = 0
    if budget <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not auto, fast, low or a positive budget such as 4G or 512M")
    return budget


def _memory_and_allocator(args: argparse.Namespace) -> str | int:
    """The ``--memory`` policy; ``low`` also makes this process return large freed blocks to the system at once
    (glibc's heap would otherwise keep them, fragmented: at 8k tokens 1.39 instead of 1.77 GiB peak)."""
    if args.memory == "low":
        from .lrp.relevance import return_freed_memory_at_once

        return_freed_memory_at_once()
    return args.memory


def _finish(result: AttributionResult, args: argparse.Namespace, console: Any) -> None:
    from .render.terminal import print_result

    print_result(result, console=console)
    if args.json:
        path = _write_json(result, args.json)
        console.print(f"\nWrote the full result (JSON) to {path.resolve()}", highlight=False, markup=False)
    if args.html:
        path = Path(args.html)
        try:
            path.write_text(result.to_html(), encoding="utf-8")
        except OSError as err:
            raise CliInputError(f"cannot write the HTML report to {args.html!r}: {err.strerror or err}") from None
        console.print(f"Wrote the HTML report to {path.resolve()}", highlight=False, markup=False)


def _print_stream(events: Iterator[Any], console: Any, stderr: Any) -> AttributionResult:
    """``--stream``: each sentence with its citations as soon as it is attributed, then the final result's
    sentences not yet printed; returns the result."""
    from .render.terminal import sentence_line
    from .types import AttributionResult

    stderr.print("Each sentence is printed as soon as it is attributed (support and the final citations follow "
                 "at the end)…", highlight=False, markup=False)
    for printed, item in enumerate(events):
        if isinstance(item, AttributionResult):
            for number, sentence in enumerate(item.sentences[printed:], start=printed + 1):
                console.print(sentence_line(number, sentence))
            console.print()
            return item
        console.print(sentence_line(printed + 1, item))
    raise AssertionError("the stream ended without its result")


def _answer_pieces(answer: str) -> list[str]:
    """A given answer in word-sized pieces, so its sentences are attributed (and printed) one by one."""
    import re

    return re.findall(r"\s*\S+\s*", answer) or [answer]


def cmd_demo(args: argparse.Namespace, console: Any, stderr: Any) -> int:
    _check_result_paths(args)
    _set_threads(args)
    attributor = _load(args.model, stderr, not args.no_support, _memory_and_allocator(args))
    if args.stream:
        result = _print_stream(attributor.stream(DEMO["question"], DEMO["chunks"]), console, stderr)
    else:
        with _progress(stderr, "Generating the answer, then attributing each sentence (one backward pass each)…"):
            result = attributor.attribute(DEMO["question"], DEMO["chunks"])
    _finish(result, args, console)
    return 0


def cmd_attribute(args: argparse.Namespace, console: Any, stderr: Any) -> int:
    chunks = read_chunks(args.chunks)
    question = args.question
    if question is not None and not question.strip():
        raise CliInputError("--question is empty; pass the question the answer responds to")
    if question is None and args.prompt_file is None:
        raise CliInputError("--question is required (unless --prompt-file gives the whole prompt)")
    answer = args.answer
    if args.answer_file is not None:
        answer = _read_text(args.answer_file, "answer file").strip()
    if answer is not None and is_blank(answer):
        given = f"the answer file {args.answer_file!r} holds no text" if args.answer_file else "--answer is empty"
        raise CliInputError(f"{given}; pass the answer's text, or leave out --answer and --answer-file to let the "
                            "local model answer")
    prompt = _read_text(args.prompt_file, "prompt file") if args.prompt_file is not None else None
    _check_result_paths(args, [args.chunks, args.answer_file, args.prompt_file])

    _set_threads(args)
    attributor = _load(args.model, stderr, not args.no_support, _memory_and_allocator(args))
    if args.stream:
        pieces = None if answer is None else _answer_pieces(answer)
        result = _print_stream(attributor.stream(question, chunks, pieces, prompt=prompt, target=args.target),
                               console, stderr)
        _finish(result, args, console)
        return 0
    status = ("Attributing each sentence of the answer (one backward pass each)…" if answer is not None
              else "Generating the answer, then attributing each sentence (one backward pass each)…")
    with _progress(stderr, status):
        if prompt is not None:
            result = attributor.attribute_prompt(prompt, chunks, answer, question=question, target=args.target)
        else:
            result = attributor.attribute(question, chunks, answer, target=args.target)
    _finish(result, args, console)
    return 0


def cmd_verify(args: argparse.Namespace, console: Any, stderr: Any) -> int:
    from .batch import check_input_file, read_results, run_local
    from .render.html import render_report
    from .verification import Verification, summarize

    check_input_file(args.input)
    if args.html:
        _check_out_path(args.html, "--html", "the HTML report", [args.input, args.out])
    if args.engine == "ray":
        if args.threads:
            raise CliInputError("--threads applies to the local engine; with --engine ray give --num-cpus-per-worker")
        counts, records = _verify_on_ray(args, console, stderr)
    else:
        ray_only = [f"--{k.replace('_', '-')}" for k in RAY_ONLY if getattr(args, k) is not None]
        if ray_only:
            raise CliInputError(f"{', '.join(ray_only)} only appl{'y' if len(ray_only) > 1 else 'ies'} with --engine ray")
        _set_threads(args)
        memory = _memory_and_allocator(args)
        counts = run_local(lambda: _load(args.model, stderr, not args.no_support, memory), args.input, args.out,
                           token_relevance=bool(args.html), restart=args.restart, retry_errors=args.retry_errors,
                           progress=_is_tty(stderr))
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


def _check_out_path(path: str, flag: str, what: str, others: Sequence[str | None] = ()) -> None:
    """Fail now, before any model loads, if ``what`` cannot be written to ``path`` (given as ``flag``) or would
    replace one of ``others`` (the inputs, the other outputs); create its folder. Work is never lost at the end
    for a path that could have been checked at the start."""
    out = Path(path)
    for other in filter(None, others):
        if out.resolve() == Path(other).resolve() or out.exists() and Path(other).exists() and out.samefile(other):
            raise CliInputError(f"{flag} {path!r} is the same file as {other!r}; choose another path for {what}")
    try:
        if out.is_dir():
            raise IsADirectoryError(21, "it is a directory")
        out.parent.mkdir(parents=True, exist_ok=True)
        existed = out.exists()
        with open(out, "a", encoding="utf-8"):
            pass
        if not existed:
            out.unlink()
    except OSError as err:
        raise CliInputError(f"cannot write {what} to {path!r}: {err.strerror or err}") from None


def _check_result_paths(args: argparse.Namespace, inputs: Sequence[str | None] = ()) -> None:
    """``attribute`` and ``demo``: check ``--json`` and ``--html`` before the model loads."""
    if args.json:
        _check_out_path(args.json, "--json", "the JSON result", [*inputs, args.html])
    if args.html:
        _check_out_path(args.html, "--html", "the HTML report", inputs)


RAY_ONLY = ("address", "num_workers", "num_cpus_per_worker", "num_gpus_per_worker", "batch_size", "format")


def _is_tty(stderr: Any) -> bool:
    """Whether the record bar may redraw itself with \r: on a terminal, not in a log file (rich's ``is_terminal``
    says yes under FORCE_COLOR, which CI systems set with stderr redirected)."""
    isatty = getattr(getattr(stderr, "file", None), "isatty", None)
    return bool(isatty and isatty())


def _verify_on_ray(args: argparse.Namespace, console: Any, stderr: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``verify --engine ray``: rag_attrib.ray_engine.run_ray, then the records read back from the shards."""
    from .ray_engine import read_results_dir, run_ray

    def given(value: Any, default: Any) -> Any:
        return default if value is None else value

    requested = given(args.num_workers, 1)
    counts = run_ray(
        args.input, args.out, model=args.model,
        load_kwargs=_load_options(not args.no_support, args.memory),
        num_workers=requested,
        num_cpus_per_worker=given(args.num_cpus_per_worker, 1),
        num_gpus_per_worker=given(args.num_gpus_per_worker, 0), batch_size=given(args.batch_size, 4),
        fmt=given(args.format, "jsonl"), address=args.address, token_relevance=bool(args.html),
        restart=args.restart, retry_errors=args.retry_errors, verbose=args.verbose, progress=_is_tty(stderr),
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


def cmd_check_model(args: argparse.Namespace, console: Any, stderr: Any) -> int:
    from .render.check import print_report

    with _progress(stderr, "Starting: importing torch and transformers…") as update:
        from .check import check_model
        from .model import DEFAULT_MODEL, load_message, load_model

        name = None if args.model == "default" else args.model
        update(load_message(name))
        model, tokenizer = load_model(name)
        update("Checking rules, kernels and relevance flow on a fixed prompt…")
        report = check_model(model, tokenizer, name=f"default ({DEFAULT_MODEL})" if name is None else args.model)
    print_report(report, console)
    return 0 if report.ok else 1


def cmd_serve(args: argparse.Namespace, console: Any, stderr: Any) -> int:
    """The HTTP service (rag_attrib.serve); its dependencies are the optional extra ``serve``."""
    try:
        from .serve import TOKEN_ENV, ServeSettings, run_server
    except ImportError as err:
        raise CliInputError(f"rag-attrib serve needs FastAPI and uvicorn ({err}): pip install 'rag-attrib[serve]'"
                            ) from None
    import os

    settings = ServeSettings(max_body_bytes=args.max_body_bytes, max_chunks=args.max_chunks, max_tokens=args.max_tokens,
                             queue=args.queue, token=args.token or os.environ.get(TOKEN_ENV) or None,
                             log_bodies=args.log_bodies)
    run_server(args.model, _load_options(not args.no_support, args.memory), settings, host=args.host,
               port=args.port, workers=args.workers, threads=args.threads)
    return 0


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


def cmd_eval(args: argparse.Namespace, console: Any, stderr: Any) -> int:
    """Faithfulness and plausibility of every attribution method on labelled cases (rag_attrib.eval)."""
    with _progress(stderr, "Starting: importing torch and transformers…"):
        from .eval import load_many, print_table, resolve_methods, run_eval
        from .eval.checkpoint import Checkpoint, answer_checker, model_settings, run_settings
        from .eval.table import answers_phrase

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
        _check_out_path(args.json, "--json", "the JSON report", list(args.data or []))
    kept_in = _checkpoint_path(args)
    with _one_run(args.json) if kept_in else contextlib.nullcontext():
        settings = run_settings(args, names, cases, ks, _version()) if kept_in else {}
        if kept_in and not args.restart:
            Checkpoint.check(kept_in, settings)  # what can be told before the model loads (minutes)
        _set_threads(args)
        attributor = _load(args.model, stderr, not args.no_support)
        names, skipped = resolve_methods(methods, attributor)  # now also what this model cannot do
        if not names:
            raise CliInputError("none of the requested methods can run with this model: " + "; ".join(skipped.values()))
        checkpoint = _eval_checkpoint(kept_in, {**settings, **model_settings(attributor, names)}, args.restart,
                                      answer_checker(cases, names, ks), stderr) if kept_in else None
        what = f"Evaluating {len(names)} method{'s' if len(names) != 1 else ''}"
        with _progress(stderr, what, total=len(cases)) as update:
            started, first = time.monotonic(), None

            def progress(done: int, total: int, case_id: str) -> None:
                nonlocal first
                first = done if first is None else first  # answers resumed from the checkpoint took no time here
                update(f"{what} on {case_id or 'the answers'}", completed=done)
                if not _is_tty(stderr) and case_id:  # a log file gets one line per answer instead of a bar
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
    from .batch import locked

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
    from .eval.checkpoint import Checkpoint
    from .eval.table import answers_phrase

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


# ---------------------------------------------------------------------------------------------- parser


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("rag-attrib")
    except Exception:  # noqa: BLE001 (not installed as a distribution, e.g. run from a source tree)
        from . import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rag-attrib",
        description="Which retrieved chunk did each answer sentence come from? Sentence-level AttnLRP for RAG.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    support_help = ("decide which sentences no chunk carries by the shares alone, without the model's support model "
                    "(saves its 2 forward passes per answer; the default model and smollm2 have one)")
    memory_help = ("what the backward passes keep: auto (default: the whole graph when it fits in half the free "
                   "memory), fast (the whole graph), low (one layer's graph at a time: long prompts in little memory, "
                   "somewhat slower; the process that holds the model then also returns freed memory to the system "
                   "at once), or a budget such as 4G or 512M")
    model_help = "model: a folder saved with save_pretrained, a .gguf file, a downloaded hub id, or a named offline " \
                 "model: qwen2.5-0.5b (the default, Qwen2.5-Coder-0.5B-Instruct), smollm2 (SmolLM2-135M-Instruct: " \
                 "about twice as fast, less accurate), gemma3-270m, qwen2.5-1.5b (3 times the default's size)"

    threads_help = "torch CPU threads (default: torch's choice, usually the physical cores)"
    stream_help = ("print each sentence with its citations as soon as it is attributed, while the model is still "
                   "writing the next one (a given answer is read word by word)")

    demo = sub.add_parser(
        "demo",
        help="attribute the answer to a built-in question about a fictional island town",
        description="Let the model answer a built-in question from 5 built-in chunks about a fictional island "
        "town (only one chunk holds the answer), and show which chunk each sentence came from.",
    )
    demo.add_argument("--model", metavar="M", help=model_help)
    demo.add_argument("--no-support", action="store_true", help=support_help)
    demo.add_argument("--memory", type=_memory_option, default="auto", metavar="POLICY", help=memory_help)
    demo.add_argument("--json", metavar="OUT", default=DEFAULT_DEMO_JSON,
                      help=f"where to write the JSON result (default: {DEFAULT_DEMO_JSON})")
    demo.add_argument("--html", metavar="REPORT", help="also write a self-contained HTML report")
    demo.add_argument("--threads", type=_threads_option, metavar="T", help=threads_help)
    demo.add_argument("--stream", action="store_true", help=stream_help)
    demo.set_defaults(func=cmd_demo)

    att = sub.add_parser(
        "attribute",
        help="attribute an answer to chunks read from a file",
        description="Attribute each sentence of an answer to the chunks in FILE. Without --answer/--answer-file "
        "the model writes the answer itself; with one, the given answer (from any LLM) is scored by teacher "
        "forcing (a proxy attribution).",
    )
    att.add_argument("--chunks", metavar="FILE", required=True,
                     help="a JSON list (strings, or objects with \"text\" and optional \"id\"/\"metadata\"), "
                     "a JSONL file (one such item per line), or plain text with chunks separated by blank lines")
    att.add_argument("--question", metavar="Q", help="the question (required unless --prompt-file is given)")
    answer = att.add_mutually_exclusive_group()
    answer.add_argument("--answer", metavar="A", help="the answer to attribute (default: the model generates one)")
    answer.add_argument("--answer-file", metavar="F", help="read the answer to attribute from this file")
    att.add_argument("--prompt-file", metavar="P",
                     help="the exact prompt the model saw (used as is); every chunk's text must occur in it")
    att.add_argument("--model", metavar="M", help=model_help)
    att.add_argument("--no-support", action="store_true", help=support_help)
    att.add_argument("--memory", type=_memory_option, default="auto", metavar="POLICY", help=memory_help)
    att.add_argument("--json", metavar="OUT", help="also write the full result as JSON to OUT")
    att.add_argument("--html", metavar="REPORT", help="also write a self-contained HTML report")
    att.add_argument("--target", choices=TARGETS, default=None,
                     help="what each sentence's score explains: the logit of the answer token (token, default), "
                     "the max logit (max) or the log-probability (logprob)")
    att.add_argument("--threads", type=_threads_option, metavar="T", help=threads_help)
    att.add_argument("--stream", action="store_true", help=stream_help)
    att.set_defaults(func=cmd_attribute)

    ver = sub.add_parser(
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
    ver.add_argument("--model", metavar="M", help=model_help)
    ver.add_argument("--no-support", action="store_true", help=support_help)
    ver.add_argument("--memory", type=_memory_option, default="auto", metavar="POLICY", help=memory_help)
    ver.add_argument("--threads", type=_threads_option, metavar="T", help=threads_help)
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

    chk = sub.add_parser(
        "check-model",
        help="check that a model can be attributed correctly (rules, coverage, kernels, relevance flow)",
        description="Load MODEL, patch it, run a fixed prompt, and print its family, which submodules got which "
        "rule, the relevance at each layer's input over the target, and eager/SDPA agreement. Exits 1 when the "
        "model cannot be attributed correctly.",
    )
    chk.add_argument("model", metavar="MODEL",
                     help="a folder saved with save_pretrained, a .gguf file, a downloaded hub id, 'default' "
                     "(qwen2.5-0.5b), or a named offline model: qwen2.5-0.5b, smollm2, gemma3-270m, qwen2.5-1.5b")
    chk.set_defaults(func=cmd_check_model)

    srv = sub.add_parser(
        "serve",
        help="serve attribution and verification over HTTP (one loaded model per worker; pip install "
        "'rag-attrib[serve]')",
        description="POST /v1/attribute and /v1/verify, GET /healthz, /readyz, /metrics, OpenAPI at /docs. One "
        "attribution at a time per worker; a full queue answers 429, a request over a limit 413. See docs/serve.md.",
    )
    srv.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    srv.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    srv.add_argument("--model", metavar="M", help=model_help)
    srv.add_argument("--no-support", action="store_true", help=support_help)
    srv.add_argument("--memory", type=_memory_option, default="auto", metavar="POLICY", help=memory_help)
    srv.add_argument("--threads", type=_threads_option, metavar="T", help=threads_help + ", per worker")
    srv.add_argument("--workers", type=int, default=1, metavar="N",
                     help="worker processes, each holding a model (default 1)")
    srv.add_argument("--token", metavar="T", help="require 'Authorization: Bearer T' on every endpoint but /healthz "
                     "and /readyz (default: the environment variable RAG_ATTRIB_TOKEN, which keeps it out of ps)")
    srv.add_argument("--max-body-bytes", type=int, default=2**20, metavar="B", help="request body limit (default 1 MiB)")
    srv.add_argument("--max-chunks", type=int, default=64, metavar="N", help="chunks per record (default 64)")
    srv.add_argument("--max-tokens", type=int, default=8192, metavar="N",
                     help="tokens of a request: question or prompt, chunks, answer, all its records (default 8192)")
    srv.add_argument("--queue", type=int, default=16, metavar="N",
                     help="requests that may wait while one runs, per worker; more get 429 (default 16)")
    srv.add_argument("--log-bodies", action="store_true", help="also log request bodies (default: never)")
    srv.set_defaults(func=cmd_serve)

    ev = sub.add_parser(
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
    ev.add_argument("--model", metavar="M", help=model_help)
    ev.add_argument("--no-support", action="store_true", help=support_help)
    ev.add_argument("--k", metavar="1,2,3", default="1,2,3", help="numbers of top chunks to ablate (default 1,2,3)")
    ev.add_argument("--seed", type=int, default=0, help="seed of the random baseline and of tie-breaking")
    ev.add_argument("--threads", type=_threads_option, metavar="T", help=threads_help)
    ev.add_argument("--restart", action="store_true",
                    help="start over: discard the answers an earlier, stopped run of this command kept in "
                    "OUT.partial.jsonl (without it the run goes on where that one stopped)")
    ev.set_defaults(func=cmd_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    console, stderr = Console(), Console(stderr=True)
    try:
        return args.func(args, console, stderr)
    except RagAttribError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
