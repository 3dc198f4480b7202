"""``rag-attrib check-model``: can this model be attributed correctly?"""

from __future__ import annotations

import argparse
from typing import Any

from .common import progress_line


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``check-model`` to the subcommands ``commands``."""
    chk = commands.add_parser(
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


def cmd_check_model(args: argparse.Namespace, console: Any, stderr: Any) -> int:
    """Run ``check-model`` on ``args.model``: the report on ``console``, progress on ``stderr``; 1 when the model
    cannot be attributed correctly, else 0."""
    from ..render.check import print_report

    with progress_line(stderr, "Starting: importing torch and transformers…") as update:
        from ..model import DEFAULT_MODEL, load_message, load_model
        from ..model_check import check_model

        name = None if args.model == "default" else args.model
        update(load_message(name))
        model, tokenizer = load_model(name)
        update("Checking rules, kernels and relevance flow on a fixed prompt…")
        report = check_model(model, tokenizer, name=f"default ({DEFAULT_MODEL})" if name is None else args.model)
    print_report(report, console)
    return 0 if report.ok else 1
