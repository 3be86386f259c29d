"""A bare syslog TLS listener for sender tests: records every frame it receives, can stop and restart.

Deliberately not the audit sink: these tests count what reaches the wire, duplicates included.
"""

from __future__ import annotations

import socket
import ssl
import threading

from xdscore import syslog


class Collector:
    def __init__(self, context: ssl.SSLContext, port: int) -> None:
        self.context = context
        self.port = port
        self.frames: list[bytes] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._clients: list[socket.socket] = []
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self._listener = listener
        self._spawn(self._accept, listener)

    def stop(self) -> None:
        """Close the listener and every connection, as a sink that goes down does."""
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            try:
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            client.close()
        for thread in self._threads:
            thread.join(5)
        self._threads = []

    def received(self) -> list[bytes]:
        with self._lock:
            return list(self.frames)

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            try:
                client = self.context.wrap_socket(raw, server_side=True)
            except (OSError, ssl.SSLError):
                raw.close()
                continue
            with self._lock:
                self._clients.append(client)
                self.connections += 1
            self._spawn(self._read, client)

    def _read(self, client: socket.socket) -> None:
        decoder = syslog.FrameDecoder()
        while True:
            try:
                data = client.recv(65536)
            except OSError:
                return
            if not data:
                return
            decoder.feed(data)
            while isinstance(event := decoder.next_event(), syslog.Frame):
                with self._lock:
                    self.frames.append(event.data)
