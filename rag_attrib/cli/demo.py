"""``rag-attrib demo``: the model answers a built-in question from built-in chunks, attributed."""

from __future__ import annotations

import argparse
from typing import Any

from ..demo import DEMO
from .common import (
    STREAM_HELP,
    add_model_options,
    add_threads_option,
    check_result_paths,
    finish,
    load_attributor,
    memory_and_allocator,
    print_stream,
    progress_line,
    set_threads,
)

DEFAULT_DEMO_JSON = "rag_attrib_demo.json"


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``demo`` to the subcommands ``commands``."""
    demo = commands.add_parser(
        "demo",
        help="attribute the answer to a built-in question about a fictional island town",
        description="Let the model answer a built-in question from 5 built-in chunks about a fictional island "
        "town (only one chunk holds the answer), and show which chunk each sentence came from.",
    )
    add_model_options(demo)
    demo.add_argument("--json", metavar="OUT", default=DEFAULT_DEMO_JSON,
                      help=f"where to write the JSON result (default: {DEFAULT_DEMO_JSON})")
    demo.add_argument("--html", metavar="REPORT", help="also write a self-contained HTML report")
    add_threads_option(demo)
    demo.add_argument("--stream", action="store_true", help=STREAM_HELP)
    demo.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace, console: Any, stderr: Any) -> int:
    """Run ``demo`` as ``args`` say: the result on ``console``, progress on ``stderr``; the exit status."""
    check_result_paths(args)
    set_threads(args)
    attributor = load_attributor(args.model, stderr, not args.no_support, memory_and_allocator(args), args.judge)
    if args.stream:
        result = print_stream(attributor.stream(DEMO["question"], DEMO["chunks"]), console, stderr)
    else:
        with progress_line(stderr, "Generating the answer, then attributing each sentence (one backward pass each)…"):
            result = attributor.attribute(DEMO["question"], DEMO["chunks"])
    finish(result, args, console)
    return 0
