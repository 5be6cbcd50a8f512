"""A real headless Chromium driven over the DevTools protocol, with the network cut.

One browser process serves a whole test session; each `load` opens a fresh tab, records console
messages, exceptions and every network request, waits for a page condition and can take a
full-page screenshot. The DevTools websocket is aiohttp's client, so nothing else is needed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

# Requests a self-contained page may make: itself and inline data.
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


class ChromiumError(RuntimeError):
    """The browser could not be started or did not answer."""


@dataclass
class PageLoad:
    """What one page load did: console lines, uncaught exceptions, requests, timings."""

    url: str
    console: list[tuple[str, str]] = field(default_factory=list)  # (level, text)
    exceptions: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    load_seconds: float = 0.0  # navigation start -> the `ready` condition held
    value: Any = None  # the result of the `evaluate` expression
    screenshot: bytes = b""  # PNG of the whole page, when asked for

    @property
    def errors(self) -> list[str]:
        return self.exceptions + [text for level, text in self.console if level == "error"]

    @property
    def remote_requests(self) -> list[str]:
        return [url for url in self.requests if not url.startswith(LOCAL_SCHEMES)]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Chromium:
    """`chromium --headless` with a DevTools port; `close()` ends the process it started."""

    def __init__(self, binary: str, profile: Path) -> None:
        argv = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            f"--user-data-dir={profile}",
            # The network is cut: everything but loopback goes to a port where nothing listens.
            "--proxy-server=127.0.0.1:9",
            "--proxy-bypass-list=<-loopback>",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "--window-size=1280,900",
            "about:blank",
        ]
        self.process = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        self.http = self._wait_for_port(timeout=60)

    def _wait_for_port(self, timeout: float) -> str:
        assert self.process.stderr is not None
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                break
            seen.append(line)
            match = _LISTENING.search(line)
            if match:
                host_port = match.group(1).split("/")[2]
                # Keep draining stderr so the browser never blocks on a full pipe.
                threading.Thread(target=_drain, args=(self.process.stderr,), daemon=True).start()
                return f"http://{host_port}"
        self.process.kill()
        raise ChromiumError("chromium did not open its DevTools port: " + "".join(seen[-20:]))

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def load(
        self,
        path: Path,
        ready: str = "document.readyState === 'complete'",
        evaluate: str = "null",
        screenshot: Path | None = None,
        timeout: float = 30.0,
    ) -> PageLoad:
        """Open `path` in a new tab; wait until `ready` is true; return what happened.

        `evaluate` is a page expression whose value lands in `PageLoad.value`; `screenshot`
        gets a PNG of the whole page.
        """
        uri = path.resolve().as_uri()
        record = asyncio.run(self._load(uri, ready, evaluate, screenshot is not None, timeout))
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.write_bytes(record.screenshot)
        return record

    async def _load(
        self, url: str, ready: str, evaluate: str, screenshot: bool, limit: float
    ) -> PageLoad:
        target = self._new_tab()
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws,
            ):
                tab = _Tab(ws)
                async with asyncio.timeout(limit):
                    return await tab.load(url, ready, evaluate, screenshot)
        finally:
            self._close_tab(target["id"])

    def _new_tab(self) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.http}/json/new?about:blank", method="PUT")
        with urllib.request.urlopen(request, timeout=10) as response:
            target: dict[str, Any] = json.loads(response.read())
        return target

    def _close_tab(self, target_id: str) -> None:
        with urllib.request.urlopen(f"{self.http}/json/close/{target_id}", timeout=10):
            pass


class _Tab:
    """One DevTools connection to one tab: numbered commands, events recorded as they come."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.next_id = 0
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.loaded = asyncio.Event()
        self.record = PageLoad(url="")
        self.reader = asyncio.create_task(self._read())

    async def load(self, url: str, ready: str, evaluate: str, screenshot: bool) -> PageLoad:
        self.record.url = url
        for domain in ("Page", "Runtime", "Log", "Network"):
            await self.send(f"{domain}.enable")
        started = time.monotonic()
        await self.send("Page.navigate", url=url)
        await self.loaded.wait()
        await self.wait_for(ready)
        self.record.load_seconds = time.monotonic() - started
        self.record.value = await self.eval(evaluate)
        if screenshot:
            shot = await self.send(
                "Page.captureScreenshot", format="png", captureBeyondViewport=True
            )
            self.record.screenshot = base64.b64decode(shot["data"])
        self.reader.cancel()
        return self.record

    async def wait_for(self, condition: str) -> None:
        """Poll `condition` inside the page (every 20 ms) until it holds."""
        await self.eval(
            "new Promise(done => { const poll = () => "
            f"({condition}) ? done(true) : setTimeout(poll, 20); poll(); }})"
        )

    async def eval(self, expression: str) -> Any:
        reply = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in reply:
            raise ChromiumError(f"{expression!r} raised {reply['exceptionDetails']}")
        return reply["result"].get("value")

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = future
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        return await future

    async def _read(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            if "id" in data:
                future = self.pending.pop(data["id"])
                if "error" in data:
                    future.set_exception(ChromiumError(f"{data['error']}"))
                else:
                    future.set_result(data.get("result", {}))
            else:
                self._event(data["method"], data.get("params", {}))

    def _event(self, method: str, params: dict[str, Any]) -> None:
        record = self.record
        if method == "Page.loadEventFired":
            self.loaded.set()
        elif method == "Network.requestWillBeSent":
            record.requests.append(params["request"]["url"])
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            record.console.append((params["type"], text))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            record.exceptions.append(
                str(details.get("exception", {}).get("description", details.get("text")))
            )
        elif method == "Log.entryAdded":
            entry = params["entry"]
            record.console.append((entry["level"], f"{entry['source']}: {entry['text']}"))


def _drain(stream: Any) -> None:
    for _ in stream:
        pass


def start(profile_root: Path | None = None) -> Chromium | None:
    """A browser, or None when no Chromium is installed."""
    binary = find_chromium()
    if binary is None:
        return None
    profile = Path(tempfile.mkdtemp(prefix="chromium-", dir=profile_root))
    return Chromium(binary, profile)
