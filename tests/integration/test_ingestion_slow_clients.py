"""Slow clients (slowloris): connections that trickle their headers or their body, three per
server thread, do not hold up anyone else, and the server lets go of them at its read deadline
(PINTEREST_API_READ_TIMEOUT_S). Against the stack's real API (gunicorn's asyncio workers of
ingestion_api/asgi.py), over TCP."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import requests

from ingestion_api.canonical import CANONICAL_TRIPLE

pytestmark = pytest.mark.integration

TRICKLE_S = 40.0  # how long a slow client keeps sending a byte now and then, at most
PAUSE_S = 1.0  # between two bytes
ANSWER_WITHIN_S = 5.0  # for the normal requests sent meanwhile
PIN = json.dumps(CANONICAL_TRIPLE["pin"]).encode()


def _slow_client(port: int, slow_part: str, stop: threading.Event, closed_after: dict, index: int) -> None:
    """Open a connection and trickle a request, one byte per PAUSE_S, until the server closes it
    (then closed_after[index] is the seconds it took), TRICKLE_S pass, or `stop` is set."""
    head = (
        f"POST /pin/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(PIN)}\r\n\r\n"
    ).encode()
    sent_at_once, trickled = (head[:21], head[21:] + PIN) if slow_part == "headers" else (head, PIN)
    with socket.create_connection(("127.0.0.1", port), timeout=TRICKLE_S + 30) as sock:
        sock.sendall(sent_at_once)
        started = time.monotonic()
        try:
            for byte in trickled:
                if stop.wait(PAUSE_S) or time.monotonic() - started > TRICKLE_S:
                    return
                sock.sendall(bytes([byte]))
        except OSError:
            closed_after[index] = time.monotonic() - started


@pytest.mark.parametrize("slow_part", ["headers", "body"])
def test_slow_clients_do_not_hold_up_other_requests_and_are_let_go(stack_settings, slow_part):
    port, deadline_s = stack_settings.api_port, stack_settings.api_read_timeout_s
    assert 2 * deadline_s < TRICKLE_S < len(PIN) * PAUSE_S  # no slow client completes or gives up first
    count = 3 * stack_settings.api_workers * stack_settings.api_threads
    stop, closed_after = threading.Event(), {}
    clients = [
        threading.Thread(target=_slow_client, args=(port, slow_part, stop, closed_after, i), daemon=True)
        for i in range(count)
    ]
    for client in clients:
        client.start()
    time.sleep(3 * PAUSE_S)  # every slow client holds a connection by now
    answered = 0
    try:
        with requests.Session() as session:
            while any(client.is_alive() for client in clients):  # normal requests while they hold on
                answer = session.post(
                    f"http://127.0.0.1:{port}/pin/",
                    data=PIN,
                    headers={"Content-Type": "application/json"},
                    timeout=ANSWER_WITHIN_S,
                )
                assert answer.status_code == 202, answer.text
                answered += 1
                time.sleep(0.2)
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=TRICKLE_S + 60)
    assert answered >= 5
    # The server closed every slow connection, at its read deadline (not before; well before the
    # client would have given up).
    assert set(closed_after) == set(range(count)), f"not closed by the server: {set(range(count)) - set(closed_after)}"
    late = {i: round(s, 1) for i, s in closed_after.items() if not deadline_s - PAUSE_S <= s <= 2 * deadline_s}
    assert late == {}, f"closed at a time other than the {deadline_s:g} s read deadline"
