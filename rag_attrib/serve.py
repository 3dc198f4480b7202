"""``rag-attrib serve``: attribution and citation verification over HTTP, one loaded model shared by every caller.

    rag-attrib serve [--host 127.0.0.1] [--port 8000] [--model M] [--workers N] [--token T]

The app is FastAPI under uvicorn: FastAPI writes the OpenAPI schema from the request and response models below,
and Ray Serve takes the same app as its ingress (``ray_deployment``). Per worker process:

- The model loads once, in the background (``/readyz`` says 503 until it is ready), on the one thread that runs
  every attribution after it: the model is not thread-safe, and the event loop stays free for health checks,
  metrics and the 429s of a full queue while an attribution runs.
- One attribution at a time; at most ``queue`` requests wait for it, first come first served. A full queue
  answers 429 with ``Retry-After``; a client that disconnects while waiting gives its place up (one that
  disconnects once its attribution started cannot stop it: the result is dropped; a stream stops before its
  next piece).
- ``POST /v1/attribute?stream=true`` answers server-sent events: each sentence as soon as it is settled
  (``rag_attrib.stream``), then the whole result, equal to the answer without stream (or an error event).
- A request over a limit (body bytes, chunks, tokens) answers 413 naming the limit before it takes a place.
- On SIGTERM or Ctrl-C the attribution that runs finishes and is answered; the requests still waiting, and any
  new one, get a 503 (uvicorn then waits for every open response before it exits).
- Every error is JSON ``{"error", "error_type", "error_kind"}``: ``input`` (4xx: the request is wrong as sent)
  or ``run`` (5xx, and the 429 of a full queue: retrying later can work), never a traceback. Logs hold no
  request body or input text unless ``log_bodies``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import math
import os
import signal
import threading
import time
import traceback
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .batch import verify_line
from .errors import InvalidInputError, RequestError, ServiceUnavailableError
from .types import AttributionResult, AttributorLike, finite_json

log = logging.getLogger("rag_attrib.serve")

TOKEN_ENV = "RAG_ATTRIB_TOKEN"
CONFIG_ENV = "RAG_ATTRIB_SERVE_CONFIG"  # how `rag-attrib serve` hands its options to the worker processes
OPEN_PATHS = ("/healthz", "/readyz")  # answered without a token: load balancers and orchestrators probe them
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60, 120, 300)


@dataclass(frozen=True)
class ServeSettings:
    """The limits and switches of one server (``rag-attrib serve`` flags of the same names)."""

    max_body_bytes: int = 2**20
    max_chunks: int = 64
    max_tokens: int = 8192  # question, prompt, chunks and answer of a request (all its records), counted as below
    queue: int = 16  # requests that may wait while one runs
    token: str | None = field(default=None, repr=False)  # a secret: never in a log line or a traceback
    log_bodies: bool = False

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_chunks", "max_tokens"):
            if getattr(self, name) < 1:
                raise InvalidInputError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.queue < 0:
            raise InvalidInputError(f"queue must be 0 or more (requests waiting while one runs), got {self.queue}")
        if self.token is not None and not self.token.strip():
            raise InvalidInputError("the token is empty; pass a secret of some length, or no token at all")


# ----------------------------------------------------------------------------------------- request and response models


class ChunkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | int | None = Field(None, description="the chunk's id (default: its number, 1, 2, ...)")
    text: str
    metadata: dict[str, Any] | None = None


class AttributeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: Literal["token", "max", "logprob"] | None = Field(
        None, description="what each sentence's score explains (default: the server's, token)")
    token_relevance: bool = Field(True, description="include every token's relevance (large); false leaves it out")


class AttributeRequest(BaseModel):
    """``Attributor.attribute`` (``question``) or ``attribute_prompt`` (``prompt``, the exact prompt the LLM saw)."""

    model_config = ConfigDict(extra="forbid")
    question: str | None = None
    chunks: list[str | ChunkIn]
    answer: str | None = Field(None, description="the answer to attribute; null: the server's model answers")
    prompt: str | list[dict[str, Any]] | None = Field(
        None, description="the exact prompt (a string, or chat messages); every chunk's text must occur in it")
    options: AttributeOptions = AttributeOptions()


class VerifyRecord(BaseModel):
    """One record of ``rag-attrib verify``'s input (also a list of them). A record that is malformed gets an error
    record in the response, as in the command, instead of failing the whole request."""

    id: Any = None
    question: str | None = None
    chunks: list[str | ChunkIn]
    answer: str
    prompt: str | list[dict[str, Any]] | None = None


class Sentence(BaseModel):
    text: str
    span: list[int]
    cited: list[str | int]
    grounding: float
    target_value: float | None
    support: float | None
    conflict: dict[str, Any] | None
    citations: list[dict[str, Any]]


class AttributionOut(BaseModel):
    """``AttributionResult.to_dict()``."""

    format: str
    version: int
    model: str
    target: str
    proxy: bool
    min_share: float
    question: str | None
    prompt: str
    answer: str
    chunks: list[dict[str, Any]]
    chunk_spans: list[list[int]]
    sentences: list[Sentence]
    token_relevance: dict[str, Any] | None = None


class VerifyOut(BaseModel):
    """``rag_attrib.batch.verify_line``'s record: ``ok`` with verdicts, summary and attribution, or an error."""

    line: int = Field(description="the record's number in the request (1 for a single record)")
    id: Any
    input: str | None
    input_sha1: str
    ok: bool
    answer: str | None = None
    verdicts: list[dict[str, Any]] | None = None
    summary: dict[str, Any] | None = None
    attribution: AttributionOut | None = None
    error: str | None = None
    error_type: str | None = None
    error_kind: Literal["input", "run"] | None = None


class ErrorOut(BaseModel):
    error: str
    error_type: str
    error_kind: Literal["input", "run"]


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": what} for code, what in (
        (400, "not JSON"), (415, "no Content-Type: application/json"), (401, "no or wrong bearer token"),
        (413, "over a limit: body bytes, chunks, tokens, or the model's context window"),
        (422, "input the library refuses (the message says what and how to fix it)"),
        (429, "queue full: retry after Retry-After seconds"), (500, "the attribution failed"),
        (503, "model loading, failed to load, or server shutting down"))}


# ----------------------------------------------------------------------------------------- errors as JSON


def error_status(err: BaseException) -> int:
    """The HTTP status of an error: its own where it has one, 413 over the model's window, 422 for other input."""
    from .errors import ContextTooLongError

    if isinstance(err, (RequestError, ServiceUnavailableError)):
        return err.status
    if isinstance(err, ContextTooLongError):
        return 413
    return 422 if isinstance(err, InvalidInputError) else 500


def error_body(err: BaseException) -> dict[str, str]:
    kind = "input" if isinstance(err, InvalidInputError) else "run"
    message = str(err) if kind == "input" or isinstance(err, ServiceUnavailableError) else (
        f"the attribution failed ({type(err).__name__}: {err}); the server's log has the details")
    return {"error": message, "error_type": type(err).__name__, "error_kind": kind}


def error_response(err: BaseException) -> JSONResponse:
    headers = {}
    if isinstance(err, ServiceUnavailableError):
        headers["Retry-After"] = str(err.retry_after)
    if isinstance(err, RequestError) and err.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(error_body(err), status_code=error_status(err), headers=headers)


# ----------------------------------------------------------------------------------------- metrics


class Metrics:
    """The Prometheus series of one app (its own registry: two apps in one process do not mix)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("rag_attrib_requests", "HTTP requests answered", ["endpoint", "status"],
                                registry=self.registry)
        self.latency = Histogram("rag_attrib_request_seconds", "time from request to response", ["endpoint"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.attribution = Histogram("rag_attrib_attribution_seconds", "time the model spent on one request",
                                     buckets=LATENCY_BUCKETS, registry=self.registry)
        self.errors = Counter("rag_attrib_errors", "error responses by error_kind and error_type", ["kind", "type"],
                              registry=self.registry)
        self.queue_depth = Gauge("rag_attrib_queue_depth", "requests waiting for the model", registry=self.registry)
        self.busy = Gauge("rag_attrib_busy", "1 while the model attributes", registry=self.registry)
        self.load_seconds = Gauge("rag_attrib_model_load_seconds", "time the model took to load",
                                  registry=self.registry)
        self.ready = Gauge("rag_attrib_ready", "1 once the model is loaded and the server takes requests",
                           registry=self.registry)


# ----------------------------------------------------------------------------------------- the queue


class ClientGone(Exception):
    """The client disconnected while its request waited: it gave its place up."""


class ModelQueue:
    """One call at a time on the model's own thread; at most ``capacity`` callers wait, first come first served.

    A waiting caller's place is a future that ``_next`` completes when the model is handed to it; a caller that
    leaves (its client disconnected, its task cancelled) removes its place, or passes the model on if it had just
    been handed it, so that the model is never left held by nobody."""

    def __init__(self, capacity: int, metrics: Metrics) -> None:
        self.capacity, self.metrics = capacity, metrics
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="rag-attrib-model")
        self.waiters: deque[asyncio.Future] = deque()
        self.running = self.closing = False
        self.mean_seconds = 0.0  # of recent calls, for Retry-After

    async def run(self, call: Callable[[], Any], disconnected: Callable[[], Awaitable[Any]]) -> Any:
        """``call``'s result, once its turn came and it ran on the model's thread."""
        future = await self.start(call, disconnected)
        return await asyncio.shield(future)  # a cancelled request cannot stop the thread: it runs on, then frees

    async def start(self, call: Callable[[], Any], disconnected: Callable[[], Awaitable[Any]]) -> asyncio.Future:
        """Wait for the model's turn, then start ``call`` on its thread; the model is free again when it ends."""
        if self.closing:
            raise ServiceUnavailableError("the server is shutting down; send the request to another instance")
        if self.running:
            if len(self.waiters) >= self.capacity:
                retry = max(1, math.ceil(self.mean_seconds * (len(self.waiters) + 1)))
                raise ServiceUnavailableError(
                    f"the queue is full ({self.capacity} requests wait while one runs; the server's --queue); "
                    f"retry after {retry} s", status=429, retry_after=retry)
            await self._wait_turn(disconnected)
        self.running = True
        self.metrics.busy.set(1)
        started = time.monotonic()
        future = asyncio.get_running_loop().run_in_executor(self.executor, call)
        future.add_done_callback(lambda f: self._finished(f, started))
        return future

    async def _wait_turn(self, disconnected: Callable[[], Awaitable[Any]]) -> None:
        turn = asyncio.get_running_loop().create_future()
        self.waiters.append(turn)
        self.metrics.queue_depth.set(len(self.waiters))
        watcher = asyncio.ensure_future(disconnected())
        try:
            await asyncio.wait({turn, watcher}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            self._leave(turn)
            raise
        finally:
            watcher.cancel()
        if not turn.done():
            self._leave(turn)
            raise ClientGone
        turn.result()  # the shutdown's 503

    def _leave(self, turn: asyncio.Future) -> None:
        if turn.done() and not turn.cancelled() and turn.exception() is None:
            self._next()  # handed the model just now: hand it on
        else:
            turn.cancel()
            with contextlib.suppress(ValueError):
                self.waiters.remove(turn)
        self.metrics.queue_depth.set(len(self.waiters))

    def _finished(self, future: asyncio.Future, started: float) -> None:
        seconds = time.monotonic() - started
        self.metrics.attribution.observe(seconds)
        self.mean_seconds = seconds if not self.mean_seconds else 0.8 * self.mean_seconds + 0.2 * seconds
        if not future.cancelled():
            future.exception()  # retrieved: a request that left does not leave an unretrieved exception behind
        self._next()

    def _next(self) -> None:
        while self.waiters:
            turn = self.waiters.popleft()
            self.metrics.queue_depth.set(len(self.waiters))
            if not turn.done():
                turn.set_result(None)  # `running` stays set: the model is handed over
                return
        self.running = False
        self.metrics.busy.set(0)

    def close(self) -> None:
        """Shutting down: new requests and those still waiting get a 503; the one that runs finishes."""
        self.closing = True
        while self.waiters:
            turn = self.waiters.popleft()
            if not turn.done():
                turn.set_exception(ServiceUnavailableError("the server is shutting down before this request's "
                                                           "turn; send it again (to another instance)"))
        self.metrics.queue_depth.set(0)


# ----------------------------------------------------------------------------------------- the service


class Service:
    """The model of one worker process, its queue, limits and metrics."""

    def __init__(self, model: AttributorLike | Callable[[], AttributorLike], settings: ServeSettings) -> None:
        self.settings, self.metrics = settings, Metrics()
        self.queue = ModelQueue(settings.queue, self.metrics)
        self.attributor: AttributorLike | None = None if callable(model) else model
        self._load = model if callable(model) else None
        self.load_error: BaseException | None = None
        self.counter: Any = None  # a tokenizer of the event loop's own (the model's thread uses the attributor's)
        self.loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._close_on_signals()
        await self.loop.run_in_executor(self.queue.executor, lambda: None)  # the model thread exists
        task = self.loop.run_in_executor(self.queue.executor, self._load_model)
        task.add_done_callback(lambda f: None if f.cancelled() else f.exception())

    def _load_model(self) -> None:
        started = time.monotonic()
        try:
            if self.attributor is None:
                log.info("loading the model")
                self.attributor = self._load()
            self.counter = copy.deepcopy(getattr(self.attributor, "tokenizer", None))
        except Exception as err:  # noqa: BLE001  a model that cannot load: /readyz and every model request say why
            self.load_error = err
            log.error("the model failed to load: %s: %s", type(err).__name__, err)
            return
        self.metrics.load_seconds.set(time.monotonic() - started)
        self.metrics.ready.set(1)
        log.info("model ready (%.1f s)", time.monotonic() - started)

    def _close_on_signals(self) -> None:
        """Before uvicorn drains its connections on SIGTERM/SIGINT, clear the queue (uvicorn itself only waits for
        open responses; a long queue would hold it for minutes). Only in a main thread, where uvicorn set them."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(sig)
            if not callable(previous):
                continue

            def handler(signum: int, frame: Any, previous: Callable[..., Any] = previous) -> None:
                self.begin_shutdown()
                previous(signum, frame)

            signal.signal(sig, handler)

    def begin_shutdown(self) -> None:
        """Stop taking requests (safe from a signal handler or another thread)."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.queue.close)
        self.metrics.ready.set(0)

    async def stop(self) -> None:
        self.queue.close()
        await asyncio.get_running_loop().run_in_executor(None, self.queue.executor.shutdown)

    def check_ready(self) -> AttributorLike:
        if self.load_error is not None:
            raise ServiceUnavailableError(f"the model failed to load ({type(self.load_error).__name__}: "
                                          f"{self.load_error}); fix that and restart the server", retry_after=60)
        if self.queue.closing:
            raise ServiceUnavailableError("the server is shutting down; send the request to another instance")
        if self.attributor is None:
            raise ServiceUnavailableError("the model is still loading; retry shortly (GET /readyz says when it is "
                                          "ready)", retry_after=5)
        return self.attributor

    # -------------------------------------------------------------------------------- limits

    def count_tokens(self, texts: Iterable[str]) -> int:
        """Tokens of the model's tokenizer; words (split at whitespace) for an attributor without one."""
        if self.counter is None:
            return sum(len(t.split()) for t in texts)
        return sum(len(self.counter(t, add_special_tokens=False)["input_ids"]) for t in texts)

    def check_limits(self, records: list[Any]) -> None:
        """413 for a request whose records hold more chunks, or together more tokens, than this server takes."""
        s, texts, generated = self.settings, [], 0
        for n, record in enumerate(records, start=1):
            if not isinstance(record, dict):
                continue  # verify_line makes its error record
            chunks = record.get("chunks") if isinstance(record.get("chunks"), list) else []
            if len(chunks) > s.max_chunks:
                which = f"record {n} holds" if len(records) > 1 else "the request holds"
                raise RequestError(f"{which} {len(chunks)} chunks, over this server's limit of {s.max_chunks} "
                                   "(--max-chunks); send the top chunks of the retrieval only", status=413)
            texts += _texts(record, chunks)
            if not isinstance(record.get("answer"), str):  # the model writes it: count all it may write
                generated += getattr(self.attributor, "max_new_tokens", 0)
        tokens = self.count_tokens(texts) + generated
        if tokens > s.max_tokens:
            raise RequestError(f"the request holds {tokens} tokens (question or prompt, chunks and answer), over this "
                               f"server's limit of {s.max_tokens} (--max-tokens); send fewer or shorter chunks, or "
                               "fewer records per request", status=413)


def _texts(record: dict[str, Any], chunks: list[Any]) -> list[str]:
    """The texts a record makes the model read: the prompt (which holds the chunks) or the question and chunks,
    and the answer."""
    prompt = record.get("prompt")
    if isinstance(prompt, str):
        texts = [prompt]
    elif isinstance(prompt, list):
        texts = [m["content"] for m in prompt if isinstance(m, dict) and isinstance(m.get("content"), str)]
    else:
        texts = [record["question"]] if isinstance(record.get("question"), str) else []
        texts += [c if isinstance(c, str) else c.get("text") for c in chunks
                  if isinstance(c, str) or isinstance(c, dict) and isinstance(c.get("text"), str)]
    return texts + [record["answer"]] if isinstance(record.get("answer"), str) else texts


# ----------------------------------------------------------------------------------------- the ASGI guard


class Guard:
    """Pure ASGI middleware, outermost: the bearer token, the body limit (the body is read here, at most
    ``max_body_bytes``, and replayed to the app), and every request's count and latency."""

    def __init__(self, app: Any, service: Service, routes: set[str]) -> None:
        self.app, self.service, self.routes = app, service, routes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, started, status = scope["path"], time.monotonic(), [0]
        endpoint = path if path in self.routes else "other"

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            self._check_token(scope)
            body = await self._read_body(scope, receive)
            replayed = False

            async def replay() -> dict[str, Any]:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()  # after the body: the disconnect, which frees a waiting request's place

            await self.app(scope, replay, sending)
        except ClientGone:
            status[0] = 499  # the client left while sending its body: nobody to answer
        except RequestError as err:
            self.service.metrics.errors.labels("input", type(err).__name__).inc()
            await error_response(err)(scope, receive, sending)
        except Exception as err:  # noqa: BLE001  a bug of ours: still JSON, its traceback in the log only
            if status[0]:
                return  # answered (FastAPI's handler of last resort re-raises after `bug` answered and logged it)
            await _answer(self.service, err)(scope, receive, sending)
        finally:
            self.service.metrics.requests.labels(endpoint, str(status[0])).inc()
            self.service.metrics.latency.labels(endpoint).observe(time.monotonic() - started)

    def _check_token(self, scope: dict[str, Any]) -> None:
        token = self.service.settings.token
        if token is None or scope["path"] in OPEN_PATHS:
            return
        given = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not _same(value.strip(), token):
            raise RequestError("missing or wrong token: send the header 'Authorization: Bearer <token>' with the "
                               "server's token (--token or RAG_ATTRIB_TOKEN)", status=401)

    async def _read_body(self, scope: dict[str, Any], receive: Any) -> bytes:
        limit = self.service.settings.max_body_bytes
        too_big = RequestError(f"the request body is over this server's limit of {limit} bytes (--max-body-bytes); "
                               "send fewer or shorter chunks, or fewer records per request", status=413)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise too_big
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            body += message.get("body", b"")
            if len(body) > limit:
                raise too_big
            if not message.get("more_body"):
                return bytes(body)


def _same(given: str, token: str) -> bool:
    import hmac

    return hmac.compare_digest(given.encode(), token.encode())


# ----------------------------------------------------------------------------------------- the app


def create_app(model: AttributorLike | Callable[[], AttributorLike], settings: ServeSettings | None = None) -> Any:
    """The ASGI app: ``model`` is an attributor, or a zero-argument function that loads one (called once, on the
    model's thread, when the app starts; ``/readyz`` says 503 until it returns)."""
    settings = settings or ServeSettings()
    service = Service(model, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        await service.start()
        yield
        await service.stop()

    app = FastAPI(title="rag-attrib", version=_version(), lifespan=lifespan,
                  description="Sentence-level AttnLRP citations for RAG answers, and verification of the [n] "
                  "citations an LLM wrote. Errors: {error, error_type, error_kind}.")
    app.state.service = service

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        if any(e["type"] == "json_invalid" for e in err.errors()):
            return _answer(service, RequestError("the body is not JSON; send one JSON object (see /docs)"))
        if "json" not in request.headers.get("content-type", ""):
            return _answer(service, RequestError("the body must be JSON, sent with the header 'Content-Type: "
                                                 "application/json'", status=415))
        where = "; ".join(f"{'.'.join(map(str, e['loc'][1:])) or 'the body'}: {e['msg']}" for e in err.errors()[:5])
        return _answer(service, InvalidInputError(f"the request does not match the schema (see /docs): {where}"))

    @app.exception_handler(Exception)
    async def bug(request: Request, err: Exception) -> Response:  # what no handler above caught: still JSON
        return _answer(service, err)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        return _answer(service, RequestError(f"{err.detail}: {request.method} {request.url.path}"
                                             + (" (see /docs)" if err.status_code in (404, 405) else ""),
                                             status=err.status_code))

    @app.get("/healthz", summary="the process is up (also while the model loads)")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="200 once the model is loaded and the server takes requests, else 503",
             responses={503: ERRORS[503]})
    async def readyz() -> Any:
        try:
            attributor = service.check_ready()
        except ServiceUnavailableError as err:
            return error_response(err)
        return {"status": "ready", "model": getattr(attributor, "model_name", type(attributor).__name__)}

    @app.get("/metrics", summary="Prometheus text format", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/attribute", summary="attribute each sentence of an answer to the chunks",
              responses={200: {"model": AttributionOut, "content": {"text/event-stream": {
                  "schema": {"type": "string", "description": STREAM_EVENTS}}}}, **ERRORS}, response_class=Response)
    async def attribute(body: AttributeRequest, request: Request,
                        stream: bool = Query(False, description="answer as server-sent events (text/event-stream): "
                                             + STREAM_EVENTS)) -> Response:
        raw = body.model_dump(exclude={"options"}, exclude_unset=True)
        raw["chunks"] = [c if isinstance(c, str) else c.model_dump(exclude_unset=True) for c in body.chunks]
        if settings.log_bodies:
            log.info("POST /v1/attribute body: %s", json.dumps(raw, ensure_ascii=False))

        def call() -> str:
            result = _attribute(attributor, body, raw["chunks"])
            return finite_json(result.to_dict(token_relevance=body.options.token_relevance), "the result",
                               ensure_ascii=False)

        try:
            attributor = service.check_ready()
            service.check_limits([raw])
            if stream:
                return await _event_stream(service, request, attributor, body, raw["chunks"])
            return _json(await service.queue.run(call, _disconnect(request)))
        except Exception as err:  # noqa: BLE001  every failure is answered as JSON
            return _answer(service, err)

    @app.post("/v1/verify", summary="verify the [n] citations of one record, or of a list of records",
              responses={200: {"model": VerifyOut | list[VerifyOut]}, **ERRORS}, response_class=Response,
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
                  "anyOf": [{"$ref": "#/components/schemas/VerifyRecord"},
                            {"type": "array", "items": {"$ref": "#/components/schemas/VerifyRecord"}}]}}}}})
    async def verify(request: Request, token_relevance: bool = Query(False, description="keep token relevance")
                     ) -> Response:
        try:
            records, single = _records(await request.body())
            if settings.log_bodies:
                log.info("POST /v1/verify body: %s", json.dumps(records, ensure_ascii=False))
            service.check_ready()
            service.check_limits(records)
            lines = [json.dumps(r, ensure_ascii=False) for r in records]

            def call() -> str:
                out = [verify_line(service.attributor, line, n, token_relevance) for n, line in enumerate(lines, 1)]
                return finite_json(out[0] if single else out, "the records", ensure_ascii=False)

            return _json(await service.queue.run(call, _disconnect(request)))
        except Exception as err:  # noqa: BLE001
            return _answer(service, err)

    _add_schema(app, VerifyRecord)  # what /v1/verify takes: read from the raw body, a bad record is an error record
    return Guard(app, service, {r.path for r in app.routes})


def _add_schema(app: FastAPI, model: type[BaseModel]) -> None:
    original = app.openapi

    def openapi() -> dict[str, Any]:
        schema = original()
        defs = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(defs.pop("$defs", {}))
        components[model.__name__] = defs
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _attribute(attributor: Any, body: AttributeRequest, chunks: list[Any]) -> Any:
    target = body.options.target
    if body.prompt is not None:
        return attributor.attribute_prompt(body.prompt, chunks, body.answer, question=body.question, target=target)
    return attributor.attribute(body.question, chunks, body.answer, target=target)


STREAM_EVENTS = (
    "`event: sentence` for each sentence as soon as it is settled (data: its entry of the result's `sentences` with "
    "its `index`; `support` null), then `event: result` (data: the whole result, as without stream) or "
    "`event: error` (data: {error, error_type, error_kind}). Errors before the stream starts are HTTP errors.")
HEARTBEAT_SECONDS = 15  # a comment line this often while nothing else is sent: proxies keep the connection open
_OPENED, _ENDED = object(), object()


class StreamAbandoned(Exception):
    """The client of an event stream disconnected: its attribution stops before the next piece of the answer."""


class EventStream(StreamingResponse):
    """Server-sent events; when the response ends for any reason (the last event sent, the client gone), ``ended``
    is set, which stops the attribution if it still runs."""

    media_type = "text/event-stream"

    def __init__(self, events: AsyncIterator[str], ended: threading.Event) -> None:
        super().__init__(events, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.ended = ended

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.ended.set()


async def _event_stream(service: Service, request: Request, attributor: Any, body: AttributeRequest,
                        chunks: list[Any]) -> Response:
    """``Attributor.open_stream`` on the model's thread, its sentences and result sent as events while it runs. A
    given answer is fed word by word, so its sentences come one by one; without one the local model writes it.
    What fails before the stream is open (the input, the prompt's length) is an HTTP error as without stream."""
    from .stream import answer_pieces, stream_pieces
    from .text import check_answer

    loop, events, ended = asyncio.get_running_loop(), asyncio.Queue(), threading.Event()

    def emit(item: Any) -> None:  # from the model's thread
        loop.call_soon_threadsafe(events.put_nowait, item)

    def pieces(answer: Iterable[str]) -> Iterator[str]:
        for piece in answer:
            if ended.is_set():
                raise StreamAbandoned
            yield piece

    def call() -> None:
        try:
            if body.answer is not None:
                check_answer(body.answer)
            answer_stream = attributor.open_stream(body.question, chunks, prompt=body.prompt, target=body.options.target,
                                                   proxy=body.answer is not None)
            emit(_OPENED)
            answer = answer_stream.generate() if body.answer is None else answer_pieces(body.answer)
            for index, item in enumerate(stream_pieces(answer_stream, pieces(answer))):
                if isinstance(item, AttributionResult):
                    emit(_event("result", item.to_dict(token_relevance=body.options.token_relevance)))
                else:
                    emit(_event("sentence", {"index": index, **item.to_dict()}))
        except StreamAbandoned:
            service.metrics.errors.labels("input", "ClientGone").inc()
        finally:
            emit(_ENDED)

    running = await service.queue.start(call, _disconnect(request))
    if await events.get() is _ENDED:  # failed before the stream opened
        await asyncio.shield(running)  # raises why

    async def sent() -> AsyncIterator[str]:
        while (item := await _next_event(events)) is not _ENDED:
            yield item
        try:
            await asyncio.shield(running)
        except Exception as err:  # noqa: BLE001  after the 200: the error is the last event
            yield _event("error", _failed(service, err))

    return EventStream(sent(), ended)


async def _next_event(events: asyncio.Queue) -> Any:
    try:
        return await asyncio.wait_for(events.get(), HEARTBEAT_SECONDS)
    except TimeoutError:
        return ": still attributing\n\n"


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {finite_json(data, f'the {name} event', ensure_ascii=False)}\n\n"


def _records(body: bytes) -> tuple[list[Any], bool]:
    """The records of a /v1/verify body and whether it was one record (answered with one result)."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError) as err:
        raise RequestError(f"the body is not JSON ({err}); send one record, or a list of records, as JSON") from None
    if isinstance(value, list):
        if not value:
            raise RequestError("the list of records is empty; send at least one record", status=422)
        return value, False
    if isinstance(value, dict):
        return [value], True
    raise RequestError("the body must be one record (a JSON object of question, chunks and answer) or a list of "
                       "records", status=422)


def _disconnect(request: Request) -> Callable[[], Awaitable[None]]:
    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    return disconnected


def _json(text: str) -> Response:
    return Response(text, media_type="application/json")


def _answer(service: Service, err: BaseException) -> Response:
    if isinstance(err, ClientGone):
        service.metrics.errors.labels("input", "ClientGone").inc()
        return Response(status_code=499)  # nobody reads it: the client left
    _failed(service, err)
    return error_response(err)


def _failed(service: Service, err: BaseException) -> dict[str, str]:
    """The error's JSON body, counted, and logged when it is ours (``run``)."""
    body = error_body(err)
    service.metrics.errors.labels(body["error_kind"], body["error_type"]).inc()
    if body["error_kind"] == "run" and not isinstance(err, ServiceUnavailableError):
        frames = traceback.format_exception(err) if service.settings.log_bodies else [
            *traceback.format_tb(err.__traceback__), type(err).__name__]  # the message may quote the input
        log.error("request failed: %s", "".join(frames))
    return body


def _version() -> str:
    from . import __version__

    return __version__


# ----------------------------------------------------------------------------------------- rag-attrib serve, Ray Serve


def app_from_env() -> Any:
    """The app of one worker of ``rag-attrib serve`` (uvicorn's factory), configured by the command through the
    environment: ``RAG_ATTRIB_SERVE_CONFIG`` (JSON) and ``RAG_ATTRIB_TOKEN``."""
    config = json.loads(os.environ.get(CONFIG_ENV, "{}"))
    if not log.handlers:  # uvicorn configures its own loggers only: ours go to stderr beside them
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    settings = ServeSettings(**config.get("settings", {}), token=os.environ.get(TOKEN_ENV) or None)
    return create_app(lambda: load_attributor(config.get("model"), config.get("load", {}), config.get("threads")),
                      settings)


def load_attributor(model: str | None, load_kwargs: dict[str, Any], threads: int | None = None) -> Any:
    """``Attributor.load`` as the command line does it (``--memory low`` also returns freed memory at once)."""
    from .attribute import Attributor

    if threads:
        import torch

        torch.set_num_threads(threads)
    if load_kwargs.get("memory") == "low":
        from .lrp.relevance import return_freed_memory_at_once

        return_freed_memory_at_once()
    return Attributor.load(model, **load_kwargs)


def ray_deployment(model: Any = None, load_kwargs: dict[str, Any] | None = None,
                   settings: ServeSettings | None = None, **deployment_options: Any) -> Any:
    """A Ray Serve application of this app: each replica loads its own model (``model``: what
    ``Attributor.load`` takes, or a zero-argument function returning an attributor) and answers the same
    endpoints. ``deployment_options`` go to ``serve.deployment`` (``num_replicas``, ``autoscaling_config``,
    ``ray_actor_options={"num_cpus": 2}`` or ``{"num_gpus": 1}``, ...). Run it with
    ``serve.run(ray_deployment(...), route_prefix="/")``; ``rag_attrib.serve:ray_app`` is the same for
    ``serve run``."""
    from ray import serve

    @serve.deployment(**{"max_ongoing_requests": 1 + (settings or ServeSettings()).queue, **deployment_options})
    @serve.ingress()
    class RagAttrib:
        def __init__(self, model: Any, load_kwargs: dict[str, Any], settings: ServeSettings) -> None:
            attributor = model() if callable(model) else load_attributor(model, load_kwargs)  # ready when built
            self.asgi_app = create_app(attributor, settings)

        def __serve_build_asgi_app__(self) -> Any:
            return self.asgi_app

    return RagAttrib.bind(model, load_kwargs or {}, settings or ServeSettings())


def ray_app(args: dict[str, Any]) -> Any:
    """``serve run rag_attrib.serve:ray_app model=smollm2 num_replicas=2`` (Ray Serve's application builder)."""
    options = {k: int(v) for k, v in args.items() if k in ("num_replicas",)}
    settings = {k: int(v) for k, v in args.items() if k in asdict(ServeSettings()) and k not in ("token", "log_bodies")}
    return ray_deployment(args.get("model"), {"memory": args.get("memory", "auto")},
                          ServeSettings(**settings, token=os.environ.get(TOKEN_ENV) or None), **options)


def run_server(model: str | None, load_kwargs: dict[str, Any], settings: ServeSettings, *, host: str = "127.0.0.1",
               port: int = 8000, workers: int = 1, threads: int | None = None) -> None:
    """Serve until SIGTERM or Ctrl-C: ``workers`` uvicorn processes on one port, each loading its own model."""
    import uvicorn

    if workers < 1:
        raise InvalidInputError(f"--workers must be at least 1, got {workers}")
    if host not in ("127.0.0.1", "::1", "localhost") and settings.token is None:
        log.warning("serving on %s without a token: anyone who reaches this port can use the model; pass --token or "
                    "set %s", host, TOKEN_ENV)
    own = {k: v for k, v in asdict(settings).items() if k != "token"}
    os.environ[CONFIG_ENV] = json.dumps({"model": model, "load": load_kwargs, "threads": threads, "settings": own})
    if settings.token is not None:
        os.environ[TOKEN_ENV] = settings.token  # inherited by the workers, never written into a command line
    import inspect

    # a worker imports torch before it answers its supervisor's health check: seconds on a busy machine (default 5)
    patience = {"timeout_worker_healthcheck": 120} if "timeout_worker_healthcheck" in inspect.signature(
        uvicorn.run).parameters else {}
    uvicorn.run("rag_attrib.serve:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="info", timeout_graceful_shutdown=None, **patience)
