"""Ports for a fresh stack: all different, and free when handed out."""

from __future__ import annotations

import socket

from devstack.process import free_ports


def test_free_ports_are_distinct_and_bindable():
    ports = free_ports(40)
    assert len(set(ports)) == 40
    sockets = [socket.socket() for _ in ports]
    try:
        for sock, port in zip(sockets, ports):
            sock.bind(("127.0.0.1", port))
    finally:
        for sock in sockets:
            sock.close()
