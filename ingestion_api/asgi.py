"""The API's event-driven front: slow clients cost a coroutine, never a thread.

`BufferingWorker` is gunicorn's asyncio ASGI worker serving a WSGI app (here the Flask app of
`ingestion_api.app:create_app()`) through `WsgiToAsgi`: the event loop reads each request whole
(headers, then the body, at most PINTEREST_API_MAX_BYTES + 1 bytes of it) and only then runs the
app in a pool of PINTEREST_API_THREADS threads, where it may block on Kafka's acknowledgement.

Deadlines (PINTEREST_API_READ_TIMEOUT_S): a new connection must complete its request headers
within it, or it is closed (on a kept-alive connection gunicorn's keep-alive timeout applies to
the next request's headers); once the headers are in, the body must arrive within it, or the
answer is 408 and the connection is closed. A body over PINTEREST_API_MAX_BYTES is not buffered
further: the app gets its first PINTEREST_API_MAX_BYTES + 1 bytes and answers 413 at once (and
dead-letters the truncated body); the rest is then read and dropped until that same deadline, so
that closing the connection does not reset it under the answer, and the connection is closed.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from gunicorn.asgi.protocol import ASGIProtocol
from gunicorn.workers import gasgi

from pinterest_common.config import get_settings


class _Disconnected(Exception):
    """The client went away before its request was complete."""


class _TooSlow(Exception):
    """The request was not received within the read deadline."""


def problem(status: int, error: str, problems: list[str]) -> bytes:
    """The API's JSON error shape (ingestion_api.errors.error_response), without Flask."""
    return json.dumps({"status": status, "error": error, "problems": problems}).encode()


class WsgiToAsgi:
    """An ASGI app that buffers the whole request, then calls the WSGI `app` in a thread pool."""

    def __init__(self, app: Callable, threads: int, max_bytes: int, read_timeout_s: float):
        self.app, self.max_bytes, self.read_timeout_s = app, max_bytes, read_timeout_s
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wsgi")

    async def __call__(self, scope: Mapping[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        if scope["type"] != "http":
            raise ValueError(f"only HTTP is served, not {scope['type']}")
        deadline = asyncio.get_running_loop().time() + self.read_timeout_s
        try:
            body, complete = await self._read_body(receive, deadline)
        except _Disconnected:
            return
        except _TooSlow:
            answer = problem(408, "request timeout", [f"the request was not received within {self.read_timeout_s:g} s"])
            await send(
                {
                    "type": "http.response.start",
                    "status": 408,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(answer)).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": answer})
            return
        loop = asyncio.get_running_loop()
        status, headers, content = await loop.run_in_executor(self.pool, self._call_app, self.environ(scope, body))
        if not complete:  # the rest of the body is still on the wire: the connection cannot be reused
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})
        if not complete:
            await self._discard_rest(receive, deadline)

    @staticmethod
    async def _receive_by(receive: Callable, deadline: float) -> dict:
        """The next message, or _TooSlow at the deadline.

        The deadline does not cancel an awaited receive(): on Python 3.11, asyncio.wait_for inside
        gunicorn's receive() can swallow a cancellation that coincides with arriving data, and a
        slow client would then never time out. So receive() runs as a task raced against the time
        left; a late one is abandoned (the connection is closed after the answer)."""
        loop = asyncio.get_running_loop()
        pending = asyncio.ensure_future(receive())
        try:
            done, _ = await asyncio.wait((pending,), timeout=max(0.0, deadline - loop.time()))
        finally:
            if not pending.done():
                pending.cancel()
        if not done:
            raise _TooSlow()
        return pending.result()

    async def _read_body(self, receive: Callable, deadline: float) -> tuple[bytes, bool]:
        """The body, and whether it is all of it: reading stops past max_bytes, or at the deadline."""
        body = bytearray()
        while True:
            message = await self._receive_by(receive, deadline)
            if message["type"] == "http.disconnect":
                raise _Disconnected()
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                return bytes(body[: self.max_bytes + 1]), False
            if not message.get("more_body", False):
                return bytes(body), True

    async def _discard_rest(self, receive: Callable, deadline: float) -> None:
        """After the answer to a body too large, read and drop the rest until the deadline (a
        lingering close): closing a socket with unread data resets the connection, and the client
        could lose the answer it has already been sent."""
        try:
            while True:
                message = await self._receive_by(receive, deadline)
                if message["type"] == "http.disconnect" or not message.get("more_body", False):
                    return
        except _TooSlow:
            return

    def environ(self, scope: Mapping[str, Any], body: bytes) -> dict:
        """The WSGI environ (PEP 3333) of a request whose body is `body`, already read."""
        server = scope.get("server") or ("localhost", 80)
        client = scope.get("client") or ("", 0)
        root = scope.get("root_path", "")
        path = scope["path"][len(root) :] if root and scope["path"].startswith(root) else scope["path"]
        environ = {
            "REQUEST_METHOD": scope["method"],
            "SCRIPT_NAME": root.encode().decode("latin-1"),
            "PATH_INFO": path.encode().decode("latin-1"),
            "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
            "SERVER_NAME": str(server[0]),
            "SERVER_PORT": str(server[1]),
            "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
            "REMOTE_ADDR": str(client[0]),
            "REMOTE_PORT": str(client[1]),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": scope.get("scheme", "http"),
            "wsgi.input": io.BytesIO(body),
            "wsgi.input_terminated": True,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1").upper().replace("-", "_"), raw_value.decode("latin-1")
            if name in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
                continue  # the body is read: its length is what it is
            key = name if name == "CONTENT_TYPE" else f"HTTP_{name}"
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        if body or any(name.lower() == b"content-length" for name, _ in scope["headers"]):
            environ["CONTENT_LENGTH"] = str(len(body))
        return environ

    def _call_app(self, environ: dict) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Run the WSGI app (in a pool thread); its status, headers and whole body."""
        started: dict = {}
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info=None):
            if exc_info and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started["status"], started["headers"] = int(status.split(" ", 1)[0]), headers
            return chunks.append

        result = self.app(environ, start_response)
        try:
            chunks.extend(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in started["headers"]]
        return started["status"], headers, b"".join(chunks)

    async def _lifespan(self, receive: Callable, send: Callable) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.pool.shutdown(wait=False)
                await send({"type": "lifespan.shutdown.complete"})
                return


class _HeaderDeadlineProtocol(ASGIProtocol):
    """gunicorn's HTTP/1 protocol, closing a new connection that has not sent its request
    headers within the read deadline (gunicorn itself waits for the first request forever)."""

    read_timeout_s = 10.0
    _header_deadline: asyncio.TimerHandle | None = None
    # ASGIProtocol's private members used here, missing from typeshed's gunicorn stubs.
    _callback_parser: object | None
    _current_request: object | None
    _closed: bool
    _keepalive_timeout: Callable[[], None]

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        if self._callback_parser is not None:  # HTTP/1 (not h2, not uWSGI)
            loop = self.worker.loop
            assert loop is not None  # the worker's loop runs its connections
            self._header_deadline = loop.call_later(self.read_timeout_s, self._headers_too_slow)

    def _cancel_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self._current_request is None and not self._closed:
            self.log.info("closing a connection that sent no complete request headers within %g s", self.read_timeout_s)
            self._keepalive_timeout()  # closes the transport and wakes the connection loop

    def _on_headers_complete(self):
        self._cancel_header_deadline()
        return super()._on_headers_complete()  # pyright: ignore[reportAttributeAccessIssue]  # not in the stubs

    def connection_lost(self, exc) -> None:
        self._cancel_header_deadline()
        super().connection_lost(exc)


class BufferingWorker(gasgi.ASGIWorker):
    """gunicorn's ASGI worker serving the WSGI app it loads through WsgiToAsgi
    (`worker_class = "ingestion_api.asgi.BufferingWorker"`)."""

    def init_process(self) -> None:
        settings = get_settings()
        _HeaderDeadlineProtocol.read_timeout_s = settings.api_read_timeout_s
        # ASGIWorker builds its connections' protocol from this module global (not in typeshed's
        # stub of the module); in this worker process only, that is the protocol with the header
        # deadline.
        cast(Any, gasgi).ASGIProtocol = _HeaderDeadlineProtocol
        super().init_process()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        settings = get_settings()
        self.asgi = WsgiToAsgi(self.asgi, settings.api_threads, settings.api_max_bytes, settings.api_read_timeout_s)
