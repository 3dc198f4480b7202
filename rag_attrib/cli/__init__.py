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

Each command is a module of this package that registers its options and its handler; ``common`` holds what they
share. The model is loaded only inside the commands, so ``rag-attrib --help`` never touches it.
"""

from __future__ import annotations

import argparse
import sys

from ..chunk_file import read_chunks
from ..demo import DEMO
from ..errors import RagAttribError
from . import attribute, check_model, demo, eval, serve, verify
from .attribute import cmd_attribute
from .check_model import cmd_check_model
from .common import version
from .demo import DEFAULT_DEMO_JSON, cmd_demo
from .eval import cmd_eval
from .serve import cmd_serve
from .verify import RAY_ONLY, cmd_verify

COMMANDS = (demo, attribute, verify, check_model, serve, eval)  # in the order ``rag-attrib --help`` lists them


def build_parser() -> argparse.ArgumentParser:
    """The ``rag-attrib`` parser: ``--version`` and one subcommand per module of ``COMMANDS``."""
    parser = argparse.ArgumentParser(
        prog="rag-attrib",
        description="Which retrieved chunk did each answer sentence come from? Sentence-level AttnLRP for RAG.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``rag-attrib`` with ``argv`` (default: the process's arguments); the exit status: 2 for bad input
    (one ``error:`` line on stderr), 130 when interrupted."""
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


__all__ = [
    "COMMANDS", "DEFAULT_DEMO_JSON", "DEMO", "RAY_ONLY", "build_parser", "cmd_attribute", "cmd_check_model",
    "cmd_demo", "cmd_eval", "cmd_serve", "cmd_verify", "main", "read_chunks",
]
