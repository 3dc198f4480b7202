"""``rag-attrib serve``: the real server (uvicorn) on a free loopback port, talked to over HTTP with httpx.

Most tests run uvicorn in a thread of this process with a scripted attributor (``test_verify.ScriptedAttributor``);
``Gated`` holds an attribution until the test lets it go, which makes the queue full, or a request wait, without
any timing. The library comparisons run the tiny random Llama (conftest ``tiny_attributor``). The shutdown test
runs the server in a subprocess and sends it a real SIGTERM; the Ray Serve test (slow) starts a one-node Ray.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn", reason="rag-attrib serve needs pip install 'rag-attrib[serve]'")
pytest.importorskip("fastapi", reason="rag-attrib serve needs pip install 'rag-attrib[serve]'")

from test_verify import ScriptedAttributor

from rag_attrib.batch import verify_line
from rag_attrib.serve import ServeSettings, create_app

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = {"Alpha": {"a": 0.6}, "Beta": {"b": 0.7}}
CHUNKS = [{"id": "a", "text": "Alpha text."}, {"id": "b", "text": "Beta text."}]
RECORD = {"id": "r1", "question": "What?", "chunks": CHUNKS, "answer": "Alpha is first [1]. Beta is second [1]."}
TIMEOUT = 60  # seconds, on every wait: a broken server fails the test instead of hanging it


class Gated(ScriptedAttributor):
    """Attributes only once ``go`` is set; ``started`` is set when an attribution begins."""

    def __init__(self) -> None:
        super().__init__(SCRIPT)
        self.started, self.go = threading.Event(), threading.Event()

    def _result(self, chunks, answer, spans, question):
        self.started.set()
        assert self.go.wait(TIMEOUT), "the test never let the attribution go"
        return super()._result(chunks, answer, spans, question)


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.contextmanager
def serving(model, ready: bool = True, **settings):
    """The app under uvicorn in a thread, on a free loopback port; yields (base url, the app's Service)."""
    app = create_app(model, ServeSettings(**settings))
    sock = free_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        wait_for(lambda: server.started or not thread.is_alive(), "the server to start")
        assert thread.is_alive(), "the server did not start"
        if ready:
            wait_for(lambda: httpx.get(f"{url}/readyz", timeout=TIMEOUT).status_code == 200, "the model")
        yield url, app.service
    finally:
        server.should_exit = True
        thread.join(TIMEOUT)
        sock.close()
        assert not thread.is_alive(), "the server did not stop"


def post(url: str, path: str, body, **kwargs) -> httpx.Response:
    return httpx.post(f"{url}{path}", json=body, timeout=TIMEOUT, **kwargs)


def assert_error(response: httpx.Response, status: int, kind: str, *words: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_type", "error_kind"} and body["error_kind"] == kind
    assert "Traceback" not in response.text
    for word in words:
        assert word in body["error"]
    return body


# ---------------------------------------------------------------------------------------- endpoints


def test_health_ready_openapi_and_metrics():
    with serving(ScriptedAttributor(SCRIPT)) as (url, _):
        assert httpx.get(f"{url}/healthz", timeout=TIMEOUT).json() == {"status": "ok"}
        assert httpx.get(f"{url}/readyz", timeout=TIMEOUT).json()["status"] == "ready"
        schema = httpx.get(f"{url}/openapi.json", timeout=TIMEOUT).json()
        assert {"/v1/attribute", "/v1/verify", "/healthz", "/readyz", "/metrics"} <= set(schema["paths"])
        models = schema["components"]["schemas"]
        assert {"AttributeRequest", "AttributionOut", "VerifyRecord", "VerifyOut", "ErrorOut"} <= set(models)
        verify_body = schema["paths"]["/v1/verify"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert {"$ref": "#/components/schemas/VerifyRecord"} in verify_body["anyOf"]
        assert post(url, "/v1/verify", RECORD).status_code == 200
        assert_error(httpx.get(f"{url}/nowhere", timeout=TIMEOUT), 404, "input", "/nowhere")
        metrics = httpx.get(f"{url}/metrics", timeout=TIMEOUT).text
    for line in ('rag_attrib_requests_total{endpoint="/v1/verify",status="200"} 1.0',
                 'rag_attrib_request_seconds_count{endpoint="/v1/verify"} 1.0',
                 'rag_attrib_errors_total{kind="input",type="RequestError"} 1.0',
                 "rag_attrib_queue_depth 0.0", "rag_attrib_attribution_seconds_count 1.0", "rag_attrib_ready 1.0"):
        assert line in metrics
    assert "rag_attrib_model_load_seconds " in metrics


def test_attribute_is_the_librarys_result_and_the_same_twice(tiny_attributor):
    body = {"question": "Where is the lighthouse?", "chunks": ["The lighthouse is on the cliff.", "Bread is sold."],
            "answer": "It is on the cliff."}
    expected = tiny_attributor.attribute(body["question"], body["chunks"], body["answer"]).to_dict()
    without_tokens = tiny_attributor.attribute(body["question"], body["chunks"], body["answer"]).to_dict(False)
    by_prompt = tiny_attributor.attribute_prompt(expected["prompt"], body["chunks"], body["answer"],
                                                 question=body["question"]).to_dict()
    with serving(tiny_attributor) as (url, _):
        first, second = post(url, "/v1/attribute", body), post(url, "/v1/attribute", body)
        slim = post(url, "/v1/attribute", {**body, "options": {"token_relevance": False}})
        prompt = post(url, "/v1/attribute", {"prompt": expected["prompt"], "chunks": body["chunks"],
                                             "answer": body["answer"], "question": body["question"]})
    assert first.status_code == 200 and first.headers["content-type"] == "application/json"
    assert first.json() == expected and "token_relevance" in expected
    assert first.content == second.content
    assert slim.json() == without_tokens
    assert prompt.json() == by_prompt


def test_attribute_without_an_answer_lets_the_model_answer(tiny_attributor):
    body = {"question": "Where?", "chunks": ["The lighthouse is on the cliff."]}
    expected = tiny_attributor.attribute(body["question"], body["chunks"]).to_dict()
    with serving(tiny_attributor) as (url, _):
        assert post(url, "/v1/attribute", body).json() == expected


def test_verify_one_record_or_a_list_is_verify_line(tiny_attributor):
    bad = {"question": "What?", "answer": "No chunks."}
    records = [RECORD, bad, {**RECORD, "id": "r3", "answer": "Beta only [2]."}]
    expected = [verify_line(tiny_attributor, json.dumps(r, ensure_ascii=False), n) for n, r in enumerate(records, 1)]
    with serving(tiny_attributor) as (url, _):
        one = post(url, "/v1/verify", RECORD)
        many = post(url, "/v1/verify", records)
        relevance = post(url, "/v1/verify?token_relevance=true", RECORD)
    assert one.status_code == 200 and one.json() == expected[0] and expected[0]["ok"]
    assert many.json() == expected
    assert many.json()[1]["error_kind"] == "input" and "missing chunks" in many.json()[1]["error"]
    assert "token_relevance" in relevance.json()["attribution"] and "token_relevance" not in one.json()["attribution"]


# ---------------------------------------------------------------------------------------- errors


def test_every_error_is_json_with_its_kind():
    attributor = ScriptedAttributor(SCRIPT, fail_on="Explode")
    with serving(attributor) as (url, _):
        json_type = {"Content-Type": "application/json"}
        assert_error(httpx.post(f"{url}/v1/attribute", content=b"{not json", headers=json_type, timeout=TIMEOUT),
                     400, "input", "JSON")
        assert_error(httpx.post(f"{url}/v1/attribute", content=b'{"question": "Q?", "chunks": ["x"]}',
                                timeout=TIMEOUT), 415, "input", "Content-Type: application/json")
        assert_error(httpx.post(f"{url}/v1/verify", content=b"[1, ", timeout=TIMEOUT), 400, "input", "JSON")
        assert_error(post(url, "/v1/verify", []), 422, "input", "empty")
        assert_error(post(url, "/v1/verify", "a string"), 422, "input", "one record")
        assert_error(post(url, "/v1/attribute", {"question": "Q?"}), 422, "input", "chunks")
        assert_error(post(url, "/v1/attribute", {"question": "Q?", "chunks": ["x"], "anwser": "A."}), 422, "input",
                     "anwser")  # a typo is refused, not silently dropped
        twice = [{"id": "a", "text": "A."}, {"id": "a", "text": "B."}]  # the library refuses it
        body = assert_error(post(url, "/v1/attribute", {"question": "Q?", "chunks": twice, "answer": "Alpha."}), 422,
                            "input", "'a'")
        assert body["error_type"] == "InvalidChunksError"
        failed = assert_error(post(url, "/v1/attribute", {"question": "Q?", "chunks": ["x"], "answer": "Explode."}),
                              500, "run", "RuntimeError")
        assert failed["error_type"] == "RuntimeError"
        assert_error(httpx.get(f"{url}/v1/attribute", timeout=TIMEOUT), 405, "input")
        record = post(url, "/v1/verify", {**RECORD, "answer": "Explode [1]."}).json()  # a record's own error
        assert record["ok"] is False and record["error_kind"] == "run"


def test_a_bug_of_the_server_is_a_json_500_too(monkeypatch):
    from rag_attrib import serve

    def broken(*args):
        raise KeyError("a bug")

    with serving(ScriptedAttributor(SCRIPT)) as (url, service):
        monkeypatch.setattr(service, "check_ready", broken)  # in an endpoint that catches only what it expects
        assert_error(httpx.get(f"{url}/readyz", timeout=TIMEOUT), 500, "run", "KeyError")
        monkeypatch.setattr(serve.Guard, "_check_token", broken)  # in the middleware, before any endpoint
        assert_error(httpx.get(f"{url}/healthz", timeout=TIMEOUT), 500, "run", "KeyError")


def test_logs_hold_no_request_body_unless_asked(caplog):
    secret = "Alpha SECRET-7f3a [1]."
    caplog.set_level(logging.INFO)
    attributor = ScriptedAttributor(SCRIPT, fail_on="SECRET")
    for log_bodies in (False, True):
        caplog.clear()
        with serving(attributor, log_bodies=log_bodies) as (url, _):
            post(url, "/v1/verify", {**RECORD, "answer": secret})
            post(url, "/v1/attribute", {"question": "Q?", "chunks": CHUNKS, "answer": secret})
            post(url, "/v1/attribute", {"question": "SECRET-7f3a", "chunks": []})
        assert ("SECRET-7f3a" in caplog.text) is log_bodies
        assert "request failed" in caplog.text and "RuntimeError" in caplog.text  # the run error is logged


# ---------------------------------------------------------------------------------------- auth


def test_a_token_guards_every_endpoint_but_the_health_ones():
    with serving(ScriptedAttributor(SCRIPT), token="s3cret") as (url, _):
        for path in ("/healthz", "/readyz"):
            assert httpx.get(f"{url}{path}", timeout=TIMEOUT).status_code == 200
        for path in ("/metrics", "/openapi.json", "/docs"):
            assert_error(httpx.get(f"{url}{path}", timeout=TIMEOUT), 401, "input", "Bearer")
        missing = post(url, "/v1/verify", RECORD)
        assert_error(missing, 401, "input", "Authorization")
        assert missing.headers["www-authenticate"] == "Bearer"
        assert_error(post(url, "/v1/verify", RECORD, headers={"Authorization": "Bearer wrong"}), 401, "input")
        assert_error(post(url, "/v1/verify", RECORD, headers={"Authorization": "Basic s3cret"}), 401, "input")
        assert post(url, "/v1/verify", RECORD, headers={"Authorization": "Bearer s3cret"}).json()["ok"]
        assert httpx.get(f"{url}/metrics", headers={"Authorization": "bearer s3cret"}, timeout=TIMEOUT).status_code == 200


def test_the_token_is_not_in_the_settings_repr():
    assert "s3cret" not in repr(ServeSettings(token="s3cret"))


def test_without_a_token_every_endpoint_is_open():
    with serving(ScriptedAttributor(SCRIPT)) as (url, _):
        assert httpx.get(f"{url}/metrics", timeout=TIMEOUT).status_code == 200
        assert post(url, "/v1/verify", RECORD).json()["ok"]


# ---------------------------------------------------------------------------------------- limits


def test_limits_answer_413_naming_the_limit(tiny_attributor):
    long_answer = "It is on the cliff. " * 40  # 800 bytes: 800 tokens of the byte tokenizer
    with serving(tiny_attributor, max_body_bytes=2000, max_chunks=2, max_tokens=500) as (url, service):
        assert_error(post(url, "/v1/attribute", {"question": "Q?", "chunks": ["x" * 3000], "answer": "A."}), 413,
                     "input", "2000 bytes", "--max-body-bytes")

        def chunked():  # no Content-Length: the limit holds while the body streams in
            for _ in range(30):
                yield b" " * 100

        assert_error(httpx.post(f"{url}/v1/verify", content=chunked(), timeout=TIMEOUT), 413, "input",
                     "--max-body-bytes")
        assert_error(post(url, "/v1/attribute", {"question": "Q?", "chunks": ["a", "b", "c"], "answer": "A."}), 413,
                     "input", "3 chunks", "limit of 2", "--max-chunks")
        too_long = assert_error(post(url, "/v1/attribute", {"question": "Q?", "chunks": ["a"], "answer": long_answer}),
                                413, "input", "limit of 500", "--max-tokens")
        assert "803 tokens" in too_long["error"]  # Q? + a + the answer, by the model's tokenizer
        record = {"question": "Q?", "chunks": ["a"], "answer": "It is on the cliff. " * 10}  # 200 tokens each
        assert post(url, "/v1/verify", [record, record]).status_code == 200
        assert_error(post(url, "/v1/verify", [record] * 3), 413, "input", "--max-tokens")
        assert_error(post(url, "/v1/verify", [record, {**record, "chunks": ["a", "b", "c"]}]), 413, "input",
                     "record 2 holds 3 chunks")
        unanswered = assert_error(post(url, "/v1/attribute", {"question": "Q?" * 245, "chunks": ["a"]}), 413, "input")
        assert f"{490 + 1 + tiny_attributor.max_new_tokens} tokens" in unanswered["error"]  # what it may generate
        assert tiny_attributor.model.config.max_position_embeddings == 2048
        assert service.queue.running is False


def test_a_prompt_over_the_models_window_is_413(tiny_attributor):
    tiny_attributor.model.config.max_position_embeddings = 64
    with serving(tiny_attributor) as (url, _):
        assert_error(post(url, "/v1/attribute", {"question": "Q?", "chunks": ["The lighthouse is on the cliff."],
                                                 "answer": "It is on the cliff, by the sea."}),
                     413, "input", "context")


# ---------------------------------------------------------------------------------------- the queue


def test_a_full_queue_answers_429_with_retry_after():
    attributor = Gated()
    with serving(attributor, queue=1) as (url, service), ThreadPoolExecutor(2) as pool:
        running = pool.submit(post, url, "/v1/verify", RECORD)
        assert attributor.started.wait(TIMEOUT)
        waiting = pool.submit(post, url, "/v1/verify", {**RECORD, "id": "r2"})
        wait_for(lambda: len(service.queue.waiters) == 1, "the second request to wait")
        full = post(url, "/v1/attribute", {"question": "Q?", "chunks": CHUNKS, "answer": "Alpha."})
        assert_error(full, 429, "run", "queue is full", "--queue")
        assert int(full.headers["retry-after"]) >= 1
        metrics = httpx.get(f"{url}/metrics", timeout=TIMEOUT).text
        assert "rag_attrib_queue_depth 1.0" in metrics and "rag_attrib_busy 1.0" in metrics
        attributor.go.set()
        assert running.result(TIMEOUT).json()["id"] == "r1"
        assert waiting.result(TIMEOUT).json()["id"] == "r2"
        assert 'rag_attrib_errors_total{kind="run",type="ServiceUnavailableError"} 1.0' in \
            httpx.get(f"{url}/metrics", timeout=TIMEOUT).text


def test_a_client_that_disconnects_while_waiting_frees_its_place():
    attributor = Gated()
    with serving(attributor, queue=1) as (url, service), ThreadPoolExecutor(2) as pool:
        running = pool.submit(post, url, "/v1/verify", RECORD)
        assert attributor.started.wait(TIMEOUT)
        body = json.dumps({**RECORD, "answer": "Beta LEFT [2]."}).encode()
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as gone:
            gone.sendall(b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            wait_for(lambda: len(service.queue.waiters) == 1, "the request to wait")
        wait_for(lambda: not service.queue.waiters, "the place to be freed")
        after = pool.submit(post, url, "/v1/verify", {**RECORD, "id": "r3"})  # a full queue would answer 429
        wait_for(lambda: len(service.queue.waiters) == 1, "the next request to wait")
        attributor.go.set()
        assert running.result(TIMEOUT).status_code == 200 and after.result(TIMEOUT).json()["id"] == "r3"
    assert not any("LEFT" in answer for answer in attributor.calls)  # its attribution never ran


def test_not_ready_while_the_model_loads_then_ready():
    release, attributor = threading.Event(), ScriptedAttributor(SCRIPT)

    def load():
        assert release.wait(TIMEOUT)
        return attributor

    with serving(load, ready=False) as (url, _):
        assert_error(httpx.get(f"{url}/readyz", timeout=TIMEOUT), 503, "run", "loading")
        assert httpx.get(f"{url}/healthz", timeout=TIMEOUT).status_code == 200
        loading = assert_error(post(url, "/v1/verify", RECORD), 503, "run", "loading")
        assert loading["error_type"] == "ServiceUnavailableError"
        release.set()
        wait_for(lambda: httpx.get(f"{url}/readyz", timeout=TIMEOUT).status_code == 200, "the model")
        assert post(url, "/v1/verify", RECORD).json()["ok"]


def test_a_model_that_fails_to_load_says_why():
    def load():
        raise FileNotFoundError("no model at /nowhere")

    with serving(load, ready=False) as (url, service):
        wait_for(lambda: service.load_error is not None, "the load to fail")
        assert_error(httpx.get(f"{url}/readyz", timeout=TIMEOUT), 503, "run", "/nowhere", "restart")
        assert_error(post(url, "/v1/verify", RECORD), 503, "run", "failed to load")


SERVER = """
import socket, sys, threading, time
from pathlib import Path
sys.path.insert(0, {tests!r})
import uvicorn
from test_verify import ScriptedAttributor
from rag_attrib.serve import ServeSettings, create_app

gate = Path({gate!r})

class FileGated(ScriptedAttributor):
    def _result(self, chunks, answer, spans, question):
        (gate / "started").touch()
        deadline = time.monotonic() + 60
        while not (gate / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return super()._result(chunks, answer, spans, question)

app = create_app(FileGated({script!r}), ServeSettings(queue=4))
sock = socket.socket(fileno={fd})
uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
"""


def test_shutdown_finishes_the_running_request_and_turns_the_waiting_away(tmp_path):
    sock = free_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    code = SERVER.format(tests=str(ROOT / "tests"), gate=str(tmp_path), script=SCRIPT, fd=sock.fileno())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    server = subprocess.Popen([sys.executable, "-c", code], pass_fds=[sock.fileno()], env=env)
    sock.close()
    try:
        wait_for(lambda: _status(f"{url}/readyz") == 200, "the server")
        with ThreadPoolExecutor(2) as pool:
            running = pool.submit(post, url, "/v1/verify", RECORD)
            wait_for((tmp_path / "started").exists, "the attribution to start")
            waiting = pool.submit(post, url, "/v1/verify", {**RECORD, "id": "r2"})
            wait_for(lambda: "rag_attrib_queue_depth 1.0" in httpx.get(f"{url}/metrics", timeout=TIMEOUT).text,
                     "the second request to wait")
            server.send_signal(signal.SIGTERM)
            assert_error(waiting.result(TIMEOUT), 503, "run", "shutting down")
            (tmp_path / "go").touch()
            done = running.result(TIMEOUT)
        assert done.status_code == 200 and done.json()["ok"] and done.json()["id"] == "r1"  # whole, parsed
        assert server.wait(TIMEOUT) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it shut down on
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/healthz", timeout=TIMEOUT)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(TIMEOUT)


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=TIMEOUT).status_code
    except httpx.TransportError:
        return None


# ---------------------------------------------------------------------------------------- the command line


@pytest.mark.slow
def test_the_command_serves_a_saved_model_from_two_workers_behind_a_token(tmp_path, tiny_attributor):
    from tiny_models import byte_tokenizer

    from rag_attrib import Attributor

    folder = tmp_path / "model"
    tiny_attributor.model.save_pretrained(folder)
    byte_tokenizer().save_pretrained(folder)
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()  # the command binds it again (SO_REUSEADDR)
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "RAG_ATTRIB_TOKEN": "s3cret",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    server = subprocess.Popen([sys.executable, "-m", "rag_attrib.cli", "serve", "--model", str(folder), "--port",
                               str(port), "--workers", "2", "--threads", "1", "--no-support"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        wait_for(lambda: _status(f"{url}/readyz") == 200 or server.poll() is not None, "the command's workers")
        assert server.poll() is None
        assert_error(post(url, "/v1/verify", RECORD), 401, "input")
        answers = []  # the other worker may still be loading its model: 503 until it is ready
        wait_for(lambda: answers.append(post(url, "/v1/verify", RECORD, headers={"Authorization": "Bearer s3cret"}))
                 or answers[-1].status_code != 503, "an answer")
        got = answers[-1]
        same = Attributor.load(str(folder), support=None)  # as the command loads it (the dtype it picks)
        assert got.json() == verify_line(same, json.dumps(RECORD, ensure_ascii=False), 1)
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=TIMEOUT)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)  # its workers too: they hold the output pipe open
            server.communicate(timeout=TIMEOUT)
    assert "RECORD" not in output and "Alpha is first" not in output  # no body in the log
    assert output.count("model ready") == 2 and "Traceback" not in output


def test_serve_refuses_bad_limits_before_it_starts():
    from rag_attrib.cli import main

    assert main(["serve", "--queue", "-1"]) == 2
    assert main(["serve", "--max-chunks", "0"]) == 2
    assert main(["serve", "--workers", "0"]) == 2


# ---------------------------------------------------------------------------------------- Ray Serve


@pytest.mark.slow
def test_ray_serve_replica_answers_as_the_library():
    serve = pytest.importorskip("ray.serve", reason="Ray Serve: pip install 'ray[serve]'")
    import ray
    import test_verify

    from rag_attrib.serve import ray_deployment

    ray.cloudpickle.register_pickle_by_value(test_verify)
    if ray.is_initialized():  # a Ray another test (a docs snippet's run_ray) left running: this test wants its own
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=200 * 2**20)
    try:
        sock = free_socket()
        port = sock.getsockname()[1]
        sock.close()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        app = ray_deployment(lambda: ScriptedAttributor(SCRIPT), num_replicas=1,
                             ray_actor_options={"num_cpus": 0.5})
        serve.run(app, route_prefix="/", blocking=False)
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _status(f"{url}/readyz") == 200, "the replica")
        got = post(url, "/v1/verify", RECORD).json()
        assert got == verify_line(ScriptedAttributor(SCRIPT), json.dumps(RECORD, ensure_ascii=False), 1)
        assert_error(post(url, "/v1/attribute", {"question": "Q?"}), 422, "input", "chunks")
    finally:
        with contextlib.suppress(Exception):
            serve.shutdown()
        ray.shutdown()
        ray.cloudpickle.unregister_pickle_by_value(test_verify)


# ---------------------------------------------------------------------------------------- server-sent events

STORY = {"question": "Where is the lighthouse?", "chunks": ["The lighthouse is on the cliff.", "Bread is sold."],
         "answer": "It is on the cliff. The bread is sold there. It is old."}


def read_events(lines) -> list[tuple[str, dict]]:
    """(event, data) of each server-sent event; comment lines (the heartbeat) are skipped."""
    events, name = [], None
    for line in lines:
        if line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[len("data: "):])))
    return events


def stream(url: str, body, **kwargs) -> list[tuple[str, dict]]:
    with httpx.stream("POST", f"{url}/v1/attribute?stream=true", json=body, timeout=TIMEOUT, **kwargs) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return read_events(response.iter_lines())


class GatedStreams:
    """The tiny attributor, whose streams wait for ``go`` before each piece once a sentence came out, fail on a
    piece holding "Explode", and count the pieces fed and the streams finished."""

    def __init__(self, attributor) -> None:
        self.attributor, self.go, self.fed, self.finished = attributor, threading.Event(), [], 0

    def __getattr__(self, name):
        return getattr(self.attributor, name)

    def open_stream(self, *args, **kwargs):
        answer_stream = self.attributor.open_stream(*args, **kwargs)
        feed, finish = answer_stream.feed, answer_stream.finish

        def gated_feed(piece):
            if answer_stream.sentences:
                assert self.go.wait(TIMEOUT), "the test never let the stream go on"
            if "Explode" in piece:
                raise RuntimeError("scripted failure")
            self.fed.append(piece)
            return feed(piece)

        def counted_finish():
            self.finished += 1
            return finish()

        answer_stream.feed, answer_stream.finish = gated_feed, counted_finish
        return answer_stream


def test_stream_sends_each_sentence_then_the_plain_endpoints_result(tiny_attributor):
    with serving(tiny_attributor) as (url, _):
        plain = post(url, "/v1/attribute", STORY).json()
        events = stream(url, STORY)
        slim = stream(url, {**STORY, "options": {"token_relevance": False}})
    assert [name for name, _ in events] == ["sentence", "sentence", "result"]  # the last sentence ends the answer
    assert events[-1][1] == plain and "token_relevance" in plain
    assert [data for _, data in events[:-1]] == [{"index": i, **s} for i, s in enumerate(plain["sentences"][:2])]
    assert slim[-1][1] == {k: v for k, v in plain.items() if k != "token_relevance"}


def test_stream_without_an_answer_lets_the_model_write_it(tiny_attributor):
    body = {"question": "Where?", "chunks": ["The lighthouse is on the cliff."]}
    with serving(tiny_attributor) as (url, _):
        plain = post(url, "/v1/attribute", body).json()
        events = stream(url, body)
    assert events[-1] == ("result", plain) and plain["proxy"] is False
    assert all(name == "sentence" for name, _ in events[:-1])


def test_stream_errors_before_it_opens_are_http_errors_after_it_an_error_event(tiny_attributor):
    attributor = GatedStreams(tiny_attributor)
    attributor.go.set()
    twice = [{"id": "a", "text": "A."}, {"id": "a", "text": "B."}]
    with serving(attributor, max_chunks=2) as (url, service):
        with_stream = f"{url}/v1/attribute?stream=true"
        assert_error(httpx.post(with_stream, json={**STORY, "chunks": twice}, timeout=TIMEOUT), 422, "input", "'a'")
        assert_error(httpx.post(with_stream, json={**STORY, "answer": "  "}, timeout=TIMEOUT), 422, "input")
        assert_error(httpx.post(with_stream, json={**STORY, "chunks": ["a", "b", "c"]}, timeout=TIMEOUT), 413,
                     "input", "--max-chunks")
        assert_error(httpx.post(f"{url}/v1/attribute?stream=maybe", json=STORY, timeout=TIMEOUT), 422, "input",
                     "stream")
        events = stream(url, {**STORY, "answer": "It is on the cliff. The bread is sold. Explode now."})
        assert [name for name, _ in events] == ["sentence", "error"]
        assert events[1][1] == {"error": "the attribution failed (RuntimeError: scripted failure); the server's log "
                                "has the details", "error_type": "RuntimeError", "error_kind": "run"}
        assert 'rag_attrib_errors_total{kind="run",type="RuntimeError"} 1.0' in \
            httpx.get(f"{url}/metrics", timeout=TIMEOUT).text
        assert not service.queue.running and stream(url, STORY)[-1][0] == "result"


def test_a_stream_whose_client_disconnects_stops_and_frees_the_model(tiny_attributor, monkeypatch):
    from rag_attrib import serve

    monkeypatch.setattr(serve, "HEARTBEAT_SECONDS", 0.05)
    attributor = GatedStreams(tiny_attributor)
    finished = 'rag_attrib_requests_total{endpoint="/v1/attribute",status="200"} 1.0'
    with serving(attributor, queue=0) as (url, service):
        with httpx.stream("POST", f"{url}/v1/attribute?stream=true", json=STORY, timeout=TIMEOUT) as response:
            lines, head = (line for line in response.iter_lines() if line), []
            while not head or not head[-1].startswith("data: "):
                head.append(next(lines))
            (name, data), = read_events(head)  # arrives while the stream waits for `go`
            assert name == "sentence" and data["index"] == 0
            assert next(lines) == ": still attributing"  # nothing else can come while it waits: the heartbeat
            assert_error(post(url, "/v1/attribute", STORY), 429, "run", "queue is full")  # the stream holds it
        wait_for(lambda: finished in httpx.get(f"{url}/metrics", timeout=TIMEOUT).text, "the server to see it gone")
        attributor.go.set()
        wait_for(lambda: not service.queue.running, "the model to be free")
        assert attributor.finished == 0 and len(attributor.fed) < len(STORY["answer"].split())
        assert 'rag_attrib_errors_total{kind="input",type="ClientGone"} 1.0' in \
            httpx.get(f"{url}/metrics", timeout=TIMEOUT).text
        assert post(url, "/v1/attribute", STORY).status_code == 200


def test_a_token_guards_the_stream_and_the_schema_describes_it(tiny_attributor):
    with serving(tiny_attributor, token="s3cret") as (url, _):
        assert_error(httpx.post(f"{url}/v1/attribute?stream=true", json=STORY, timeout=TIMEOUT), 401, "input",
                     "Bearer")
        auth = {"Authorization": "Bearer s3cret"}
        assert stream(url, STORY, headers=auth)[-1][0] == "result"
        operation = httpx.get(f"{url}/openapi.json", headers=auth, timeout=TIMEOUT).json()["paths"]["/v1/attribute"]
    parameter = next(p for p in operation["post"]["parameters"] if p["name"] == "stream")
    assert parameter["in"] == "query" and parameter["schema"]["default"] is False
    assert "event: sentence" in parameter["description"]
    assert {"application/json", "text/event-stream"} <= set(operation["post"]["responses"]["200"]["content"])
