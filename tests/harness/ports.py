"""Loopback ports for the processes a test starts."""

from __future__ import annotations

import random
import socket

# Below Linux's ephemeral range (32768-60999): an outgoing connection (a database client, an
# aiohttp session) can never take a port between the moment we pick it and the moment a child
# process binds it, which a port the kernel picks with bind(0) allows.
PORTS = range(20000, 32768)
_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port nothing listens on right now and that this test run has not handed out."""
    while True:
        port = random.choice(PORTS)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
