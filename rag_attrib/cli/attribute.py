"""``rag-attrib attribute``: attribute an answer, given or generated, to chunks read from a file."""

from __future__ import annotations

import argparse
from typing import Any

from ..chunk_file import read_chunks, read_text
from ..errors import CliInputError
from ..stream import answer_pieces
from ..text import is_blank
from ..types import TARGETS
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


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``attribute`` to the subcommands ``commands``."""
    att = commands.add_parser(
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
    add_model_options(att)
    att.add_argument("--json", metavar="OUT", help="also write the full result as JSON to OUT")
    att.add_argument("--html", metavar="REPORT", help="also write a self-contained HTML report")
    att.add_argument("--target", choices=TARGETS, default=None,
                     help="what each sentence's score explains: the logit of the answer token (token, default), "
                     "the max logit (max) or the log-probability (logprob)")
    add_threads_option(att)
    att.add_argument("--stream", action="store_true", help=STREAM_HELP)
    att.set_defaults(func=cmd_attribute)


def cmd_attribute(args: argparse.Namespace, console: Any, stderr: Any) -> int:
    """Run ``attribute`` as ``args`` say: the result on ``console``, progress on ``stderr``; the exit status."""
    chunks = read_chunks(args.chunks)
    question = args.question
    if question is not None and not question.strip():
        raise CliInputError("--question is empty; pass the question the answer responds to")
    if question is None and args.prompt_file is None:
        raise CliInputError("--question is required (unless --prompt-file gives the whole prompt)")
    answer = args.answer
    if args.answer_file is not None:
        answer = read_text(args.answer_file, "answer file", CliInputError).strip()
    if answer is not None and is_blank(answer):
        given = f"the answer file {args.answer_file!r} holds no text" if args.answer_file else "--answer is empty"
        raise CliInputError(f"{given}; pass the answer's text, or leave out --answer and --answer-file to let the "
                            "local model answer")
    prompt = read_text(args.prompt_file, "prompt file", CliInputError) if args.prompt_file is not None else None
    check_result_paths(args, [args.chunks, args.answer_file, args.prompt_file])

    set_threads(args)
    attributor = load_attributor(args.model, stderr, not args.no_support, memory_and_allocator(args), args.judge)
    if args.stream:
        pieces = None if answer is None else answer_pieces(answer)
        result = print_stream(attributor.stream(question, chunks, pieces, prompt=prompt, target=args.target),
                              console, stderr)
    else:
        status = ("Attributing each sentence of the answer (one backward pass each)…" if answer is not None
                  else "Generating the answer, then attributing each sentence (one backward pass each)…")
        with progress_line(stderr, status):
            if prompt is not None:
                result = attributor.attribute_prompt(prompt, chunks, answer, question=question, target=args.target)
            else:
                result = attributor.attribute(question, chunks, answer, target=args.target)
    finish(result, args, console)
    return 0

