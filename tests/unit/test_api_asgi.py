"""The event-driven front (ingestion_api.asgi): the ASGI callable driven with fake receive/send."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from ingestion_api.app import create_app
from ingestion_api.asgi import WsgiToAsgi
from ingestion_api.canonical import CANONICAL_TRIPLE
from ingestion_api.dlq import parse_dead_letter
from pinterest_common.schema import DLQ_TOPIC

from .test_api import FakePublisher, make_settings

PIN = json.dumps(CANONICAL_TRIPLE["pin"]).encode()
MAX_BYTES = 4096


def scope(
    method: str = "POST", path: str = "/pin/", headers: list[tuple[bytes, bytes]] | None = None, query: bytes = b""
) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": headers if headers is not None else [(b"host", b"api.test"), (b"content-type", b"application/json")],
        "server": ("127.0.0.1", 8000),
        "client": ("10.1.2.3", 54321),
    }


class Client:
    """Fake receive/send: `chunks` are the body's pieces, then the client stalls (or disconnects)."""

    def __init__(self, chunks: list[bytes], stall: bool = False, disconnect: bool = False):
        self.chunks, self.stall, self.disconnect = list(chunks), stall, disconnect
        self.received = 0  # body bytes handed to the app
        self.sent: list[dict] = []

    async def receive(self) -> dict:
        if self.chunks:
            chunk = self.chunks.pop(0)
            self.received += len(chunk)
            return {
                "type": "http.request",
                "body": chunk,
                "more_body": bool(self.chunks) or self.stall or self.disconnect,
            }
        if self.disconnect:
            return {"type": "http.disconnect"}
        await asyncio.sleep(3600)  # a client that stopped sending
        raise AssertionError("unreachable")

    async def send(self, message: dict) -> None:
        if not self.sent:
            self.received_before_answer = self.received
        self.sent.append(message)

    @property
    def status(self) -> int:
        return self.sent[0]["status"]

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])

    @property
    def json(self) -> dict:
        return json.loads(b"".join(m.get("body", b"") for m in self.sent[1:]))


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
def front(publisher):
    app = create_app(make_settings(PINTEREST_API_MAX_BYTES=str(MAX_BYTES)), publisher)
    adapter = WsgiToAsgi(app, threads=2, max_bytes=MAX_BYTES, read_timeout_s=0.3)
    yield adapter
    adapter.pool.shutdown()


def serve(front: WsgiToAsgi, client: Client, request: dict | None = None) -> Client:
    asyncio.run(front(request or scope(), client.receive, client.send))
    return client


def test_an_event_in_pieces_is_accepted_with_the_apps_status_headers_and_body(front, publisher):
    client = serve(front, Client([PIN[:100], PIN[100:200], PIN[200:]]))
    assert client.status == 202
    assert client.headers[b"content-type"] == b"application/json"
    assert int(client.headers[b"content-length"]) == len(b"".join(m.get("body", b"") for m in client.sent[1:]))
    assert b"connection" not in client.headers
    assert client.json["event_type"] == "pin" and client.json["topic"] == "pinterest.pin"
    [record] = publisher.on("pinterest.pin")
    assert record.value == PIN  # the exact bytes, reassembled


def test_a_body_over_the_limit_is_answered_413_without_reading_the_rest(front, publisher):
    chunks = [b"x" * 1000] * 100  # 100 kB offered, 4 kB allowed
    client = serve(front, Client(chunks, stall=True))  # and the client would never finish
    assert client.status == 413 and client.headers[b"connection"] == b"close"
    assert client.received_before_answer <= MAX_BYTES + 1000  # answered at the first chunk past the limit
    # Then the rest is read and dropped until the read deadline (a lingering close), not longer:
    # serve() returned although the client, stalled after its last chunk, never finishes.
    assert client.received == 100 * 1000
    assert client.json["status"] == 413 and client.json["error"] == "request too large"
    assert any("exceeds the limit of 4096 bytes" in p for p in client.json["problems"])
    [letter] = [parse_dead_letter(r.headers, r.value) for r in publisher.on(DLQ_TOPIC)]
    assert letter["truncated"] and letter["body"] == b"x" * MAX_BYTES


def test_a_body_that_stops_arriving_is_answered_408_by_the_deadline(front, publisher):
    client = serve(front, Client([PIN[:10]], stall=True))  # it never sends more: the deadline ends it
    assert client.received == 10
    assert client.status == 408 and client.headers[b"connection"] == b"close"
    assert client.json == {
        "status": 408,
        "error": "request timeout",
        "problems": ["the request was not received within 0.3 s"],
    }
    assert publisher.records == []  # the app never ran


class SwallowingClient(Client):
    """A receive() that swallows the first cancellation and returns data 0.5 s later, as
    gunicorn's can on Python 3.11 (asyncio.wait_for inside it, data arriving with the cancel)."""

    swallowed = late_data_returned = False

    async def receive(self) -> dict:
        if self.chunks:
            return await super().receive()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            if self.swallowed:
                raise
            self.swallowed = True
            await asyncio.sleep(0.5)
            self.late_data_returned = True
            return {"type": "http.request", "body": b"x", "more_body": True}
        raise AssertionError("unreachable")

    async def send(self, message: dict) -> None:
        if not self.sent:
            self.answered_before_late_data = not self.late_data_returned
        await super().send(message)


def test_the_deadline_holds_when_receive_swallows_a_cancellation(front):
    client = serve(front, SwallowingClient([PIN[:10]], stall=True))
    # Answered at the deadline, not after the swallowed cancellation's late data (nor never).
    assert client.status == 408 and client.answered_before_late_data


def test_a_client_that_disconnects_mid_body_gets_nothing_and_the_app_does_not_run(front, publisher):
    client = serve(front, Client([PIN[:10]], disconnect=True))
    assert client.sent == [] and publisher.records == []


def test_app_errors_pass_through_as_json(front):
    client = serve(front, Client([b""]), scope("GET", "/nowhere"))
    assert client.status == 404 and client.json["status"] == 404
    client = serve(front, Client([PIN]), scope(headers=[(b"content-type", b"text/plain")]))
    assert client.status == 415 and client.json["error"] == "unsupported media type"


def test_the_environ_has_what_flask_needs(front):
    body = b'{"a": 1}'
    environ = front.environ(
        scope(
            path="/pin/",
            query=b"x=1&y=%C3%A9",
            headers=[
                (b"host", b"api.test"),
                (b"content-type", b"application/json"),
                (b"content-length", b"999"),
                (b"transfer-encoding", b"chunked"),
                (b"x-api-key", b"k1"),
                (b"accept", b"a/b"),
                (b"accept", b"c/d"),
            ],
        ),
        body,
    )
    assert environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"] == "/pin/" and environ["SCRIPT_NAME"] == ""
    assert environ["QUERY_STRING"] == "x=1&y=%C3%A9"
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"], environ["SERVER_PROTOCOL"]) == (
        "127.0.0.1",
        "8000",
        "HTTP/1.1",
    )
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("10.1.2.3", "54321")
    assert environ["CONTENT_TYPE"] == "application/json" and environ["CONTENT_LENGTH"] == str(len(body))
    assert "HTTP_TRANSFER_ENCODING" not in environ and "HTTP_CONTENT_LENGTH" not in environ
    assert environ["HTTP_HOST"] == "api.test" and environ["HTTP_X_API_KEY"] == "k1"
    assert environ["HTTP_ACCEPT"] == "a/b,c/d"
    assert environ["wsgi.url_scheme"] == "http" and environ["wsgi.input"].read() == body
    assert environ["wsgi.input_terminated"] and environ["wsgi.multithread"]
    get = front.environ(scope("GET", "/caf\u00e9", headers=[]), b"")
    assert "CONTENT_LENGTH" not in get and get["PATH_INFO"] == "/caf\u00e9".encode().decode("latin-1")


def test_the_api_key_header_reaches_the_app(publisher):
    app = create_app(make_settings(PINTEREST_API_KEYS="secret-key"), publisher)
    front = WsgiToAsgi(app, threads=1, max_bytes=MAX_BYTES, read_timeout_s=1)
    try:
        assert serve(front, Client([PIN])).status == 401
        headers = [(b"content-type", b"application/json"), (b"x-api-key", b"secret-key")]
        assert serve(front, Client([PIN]), scope(headers=headers)).status == 202
    finally:
        front.pool.shutdown()


def test_requests_run_concurrently_in_the_pool_while_the_loop_stays_free(front, publisher):
    """Two requests blocked on Kafka's acknowledgement are in the 2 threads at once, and the event
    loop runs meanwhile: each publish waits for the other (a barrier) and for the loop to run."""
    original = publisher.publish
    both_publishing = threading.Barrier(2, timeout=60)  # broken (a 5xx answer) if one waits alone
    inside, loop_ran = [], threading.Event()

    def blocking_publish(records):
        both_publishing.wait()
        inside.append(records)
        loop_ran.wait(60)
        return original(records)

    publisher.publish = blocking_publish

    async def on_the_loop():
        while len(inside) < 2:
            await asyncio.sleep(0.01)
        loop_ran.set()

    async def both():
        clients = [Client([PIN]), Client([PIN])]
        await asyncio.gather(on_the_loop(), *(front(scope(), c.receive, c.send) for c in clients))
        return clients

    clients = asyncio.run(both())
    assert [c.status for c in clients] == [202, 202] and loop_ran.is_set() and len(publisher.records) == 2


def test_lifespan_is_acknowledged():
    front = WsgiToAsgi(lambda environ, start_response: [], threads=1, max_bytes=1, read_timeout_s=1)
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict] = []

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    asyncio.run(front({"type": "lifespan"}, receive, send))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_over_tcp_through_gunicorns_protocol_slow_headers_are_cut_off_and_slow_bodies_get_408():
    """The worker's protocol (gunicorn's HTTP/1 parser) in process, on a real socket."""
    import sys
    import types

    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    from ingestion_api.asgi import _HeaderDeadlineProtocol

    closing_lines = []

    class RecordingLogger(Logger):
        def info(self, msg, *args, **kwargs):
            closing_lines.append(msg % args)
            super().info(msg, *args, **kwargs)

    def hello(environ, start_response):
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body) + 2))])
        return [b"ok", body]

    async def scenario() -> dict:
        loop = asyncio.get_running_loop()
        front = WsgiToAsgi(hello, threads=1, max_bytes=100, read_timeout_s=0.5)
        cfg = Config()
        worker = types.SimpleNamespace(
            cfg=cfg,
            log=RecordingLogger(cfg),
            asgi=front,
            loop=loop,
            nr_conns=0,
            alive=True,
            nr=0,
            max_requests=sys.maxsize,
            state={},
        )
        server = await loop.create_server(lambda: _HeaderDeadlineProtocol(worker), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]

        async def exchange(data: bytes) -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(data)
            answer = await asyncio.wait_for(reader.read(), 60)  # until the server closes
            writer.close()
            return answer

        try:
            return {
                "whole": await exchange(
                    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
                ),
                "headers": await exchange(b"POST / HTTP/1.1\r\nHost: x\r\n"),
                "body": await exchange(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\na"),
            }
        finally:
            server.close()
            front.pool.shutdown()

    _HeaderDeadlineProtocol.read_timeout_s = 0.5
    try:
        answers = asyncio.run(scenario())
    finally:
        _HeaderDeadlineProtocol.read_timeout_s = 10.0
    assert answers["whole"].startswith(b"HTTP/1.1 200 OK") and answers["whole"].endswith(b"\r\n\r\nokabc")
    # Incomplete headers: closed without an answer, by the header deadline.
    assert answers["headers"] == b""
    assert closing_lines == ["closing a connection that sent no complete request headers within 0.5 s"]
    # An incomplete body: 408 by the body's deadline, and closed.
    assert answers["body"].startswith(b"HTTP/1.1 408 ") and b"connection: close" in answers["body"].lower()
    assert b"the request was not received within 0.5 s" in answers["body"]
