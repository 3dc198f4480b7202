"""``rag-attrib serve``: attribution and verification over HTTP (``rag_attrib.serve``)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..errors import CliInputError
from .common import THREADS_HELP, add_model_options, add_threads_option, load_options


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``serve`` to the subcommands ``commands``."""
    srv = commands.add_parser(
        "serve",
        help="serve attribution and verification over HTTP (one loaded model per worker; pip install "
        "'rag-attrib[serve]')",
        description="POST /v1/attribute and /v1/verify, GET /healthz, /readyz, /metrics, OpenAPI at /docs. One "
        "attribution at a time per worker; a full queue answers 429, a request over a limit 413. See docs/serve.md.",
    )
    srv.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    srv.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    add_model_options(srv)
    add_threads_option(srv, THREADS_HELP + ", per worker")
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


def cmd_serve(args: argparse.Namespace, console: Any, stderr: Any) -> int:
    """Run the HTTP service (rag_attrib.serve) as ``args`` say until it is stopped; its dependencies are the
    optional extra ``serve``. ``console`` and ``stderr`` are unused: the server logs."""
    try:
        from ..serve import TOKEN_ENV, ServeSettings, run_server
    except ImportError as err:
        raise CliInputError(f"rag-attrib serve needs FastAPI and uvicorn ({err}): pip install 'rag-attrib[serve]'"
                            ) from None

    settings = ServeSettings(max_body_bytes=args.max_body_bytes, max_chunks=args.max_chunks, max_tokens=args.max_tokens,
                             queue=args.queue, token=args.token or os.environ.get(TOKEN_ENV) or None,
                             log_bodies=args.log_bodies)
    options = load_options(args.model, not args.no_support, args.memory, args.judge)
    run_server(args.model, options, settings, host=args.host, port=args.port, workers=args.workers,
               threads=args.threads)
    return 0
