"""A TCP forwarder on 127.0.0.1 that can be switched off, to simulate an S3 outage for real.

It runs its own event loop in a thread, so both async tests and subprocess tests can use it.
While off, it accepts and at once resets every connection, and resets those already open.
While stalled, it accepts connections and reads what arrives but never forwards nor answers.
While refusing, nothing listens on its port: connections are refused, as with a store that is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator


class TcpSwitch:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.connections = 0  # forwarded so far
        self._on = True
        self._stalled = False
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._transports: set[asyncio.WriteTransport] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        future.result(timeout=5)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def switch(self, on: bool) -> None:
        """Turn forwarding on or off; off also resets the connections open now."""
        asyncio.run_coroutine_threadsafe(self._switch(on), self._loop).result(timeout=5)

    def refuse(self, refusing: bool) -> None:
        """Stop listening (connections refused), or listen again on the same port."""
        action = self._close_listener() if refusing else self._listen()
        asyncio.run_coroutine_threadsafe(action, self._loop).result(timeout=5)

    def stall(self, stalled: bool) -> None:
        """Swallow new connections silently (a store that hangs), or forward them again."""
        self._stalled = stalled

    async def _switch(self, on: bool) -> None:
        self._on = on
        if not on:
            for transport in list(self._transports):
                transport.abort()
            self._transports.clear()

    async def _listen(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))  # 0 the first time: a free port
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(self._handle, sock=sock)

    async def _close(self) -> None:
        await self._switch(False)
        await self._close_listener()

    async def _close_listener(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._on:
            writer.transport.abort()
            return
        if self._stalled:
            self._transports.add(writer.transport)
            with contextlib.suppress(OSError):
                while await reader.read(65536):
                    pass
            self._transports.discard(writer.transport)
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        pair = (writer.transport, up_writer.transport)
        self._transports.update(pair)
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for transport in pair:
                self._transports.discard(transport)
                transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    with contextlib.suppress(OSError):
        writer.write_eof()


@contextlib.contextmanager
def tcp_switch(target_port: int) -> Iterator[TcpSwitch]:
    switch = TcpSwitch(target_port)
    switch.start()
    try:
        yield switch
    finally:
        switch.stop()
