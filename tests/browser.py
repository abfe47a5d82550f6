"""Drive headless Chromium over the DevTools protocol, with the standard library only.

Used by the report tests to load ``report.html`` from ``file://`` the way a user
would, collect console errors, failed loads and network requests, run a little
JavaScript to inspect the page, and save screenshots.

Chromium is started with ``--remote-debugging-port=0``; the port it picked is read
from ``DevToolsActivePort`` in its profile folder, and one WebSocket to the browser
carries every command (pages are attached with ``flatten`` sessions).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str:
    """Path of a Chromium executable (``$STREAMREID_CHROMIUM`` first)."""
    explicit = os.environ.get("STREAMREID_CHROMIUM")
    if explicit:
        return explicit
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    raise FileNotFoundError("no Chromium found (install Debian's chromium or set STREAMREID_CHROMIUM)")


class WebSocket:
    """Minimal RFC 6455 client: text frames out (masked), text frames in, ping answered."""

    def __init__(self, host: str, port: int, path: str, *, timeout: float = 30.0) -> None:
        self._socket = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self._socket.sendall(request.encode())
        self._buffer = b""
        while b"\r\n\r\n" not in self._buffer:
            chunk = self._socket.recv(4096)
            if not chunk:
                raise ConnectionError("DevTools closed the connection during the handshake")
            self._buffer += chunk
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"WebSocket handshake refused: {head.splitlines()[0]!r}")

    def send(self, text: str) -> None:
        """Send one text message."""
        self._send_frame(0x1, text.encode())

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        header = bytearray([0x80 | opcode])
        length = len(payload)
        if length < 126:
            header.append(0x80 | length)
        elif length < 1 << 16:
            header.append(0x80 | 126)
            header += struct.pack("!H", length)
        else:
            header.append(0x80 | 127)
            header += struct.pack("!Q", length)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if length < 4096 else _xor(payload, mask)
        self._socket.sendall(bytes(header) + mask + masked)

    def _read_exact(self, count: int) -> bytes:
        while len(self._buffer) < count:
            chunk = self._socket.recv(max(65536, count - len(self._buffer)))
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            self._buffer += chunk
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def receive(self) -> str:
        """Receive one text message (reassembling fragments)."""
        parts: list[bytes] = []
        while True:
            first, second = self._read_exact(2)
            fin, opcode = first & 0x80, first & 0x0F
            length = second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", self._read_exact(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", self._read_exact(8))
            mask = self._read_exact(4) if second & 0x80 else None
            payload = self._read_exact(length)
            if mask:
                payload = _xor(payload, mask)
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the WebSocket")
            if opcode == 0x9:
                self._send_frame(0xA, payload)
                continue
            if opcode in (0x0, 0x1, 0x2):
                parts.append(payload)
                if fin:
                    return b"".join(parts).decode()

    def close(self) -> None:
        """Close the connection."""
        with suppress(OSError):
            self._send_frame(0x8, b"")
        self._socket.close()


def _xor(payload: bytes, mask: bytes) -> bytes:
    repeated = (mask * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(len(payload), "big")


@dataclass
class Page:
    """One browser tab attached over a flat DevTools session.

    Attributes:
        errors: Console errors, uncaught exceptions and failed loads, as text.
        requests: URL of every request the page made.
    """

    browser: Browser
    session_id: str
    target_id: str
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    _loaded: bool = False

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a command to this page and return its result."""
        return self.browser.command(method, params, session_id=self.session_id)

    def on_event(self, message: dict[str, Any]) -> None:
        """Record what the tests check from an event of this page."""
        method, params = message["method"], message.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.errors.append(f"exception: {details.get('exception', {}).get('description') or details.get('text')}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            texts = [str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", [])]
            self.errors.append("console: " + " ".join(texts))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.errors.append(f"log: {entry.get('text')} {entry.get('url', '')}".strip())
        elif method == "Network.requestWillBeSent":
            self.requests.append(params.get("request", {}).get("url", ""))
        elif method == "Network.loadingFailed":
            self.errors.append(f"load failed: {params.get('errorText')} ({params.get('blockedReason', '')})")
        elif method == "Page.loadEventFired":
            self._loaded = True

    def goto(self, url: str, *, timeout: float = 30.0) -> None:
        """Navigate to ``url`` and wait for its load event."""
        self._loaded = False
        result = self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise RuntimeError(f"navigation to {url} failed: {result['errorText']}")
        self.browser.pump_until(lambda: self._loaded, timeout=timeout)

    def evaluate(self, expression: str) -> Any:
        """Evaluate JavaScript in the page (promises awaited) and return its JSON value."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript failed: {result['exceptionDetails'].get('text')}")
        return result.get("result", {}).get("value")

    def set_viewport(self, *, width: int, height: int) -> None:
        """Emulate a window of ``width`` x ``height`` CSS pixels (mobile when narrow)."""
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
        )

    def screenshot(self, path: Path, *, full_page: bool = True, selector: str | None = None) -> Path:
        """Save a PNG screenshot: of the element matching ``selector``, else the whole page or the viewport."""
        params: dict[str, Any] = {"format": "png"}
        if selector is not None:
            box = self.evaluate(
                f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
                " return {x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height}; })()"
            )
            params["captureBeyondViewport"] = True
            params["clip"] = {**box, "scale": 1}
        elif full_page:
            metrics = self.send("Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            params["captureBeyondViewport"] = True
            params["clip"] = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        data = self.send("Page.captureScreenshot", params)["data"]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path


class Browser:
    """A headless Chromium process and one DevTools connection to it."""

    def __init__(self, *, executable: str | None = None, timeout: float = 30.0) -> None:
        self._profile = tempfile.mkdtemp(prefix="streamreid-chromium-")
        self._timeout = timeout
        command = [
            executable or find_chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--no-first-run",
            "--no-default-browser-check",
            "--mute-audio",
            "--hide-scrollbars",
            f"--user-data-dir={self._profile}",
            "--remote-debugging-port=0",
            "about:blank",
        ]
        self._log_path = Path(self._profile + ".log")
        with open(self._log_path, "wb") as log:
            self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
        self._pages: dict[str, Page] = {}
        self._ids = itertools.count(1)
        self._pending: dict[int, dict[str, Any]] = {}
        try:
            port, path = self._wait_for_port()
            self._socket = WebSocket("127.0.0.1", port, path, timeout=timeout)
        except BaseException:
            self.close()
            raise

    def _wait_for_port(self) -> tuple[int, str]:
        marker = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                stderr = self._log_path.read_text(errors="replace")
                raise RuntimeError(f"Chromium exited with {self._process.returncode}: {stderr[-2000:]}")
            if marker.is_file():
                lines = marker.read_text().split()
                if len(lines) >= 2:
                    return int(lines[0]), lines[1]
            time.sleep(0.05)
        raise TimeoutError("Chromium did not open its DevTools port")

    def command(self, method: str, params: dict[str, Any] | None = None, *, session_id: str | None = None) -> dict:
        """Send a DevTools command and wait for its answer, handling events meanwhile."""
        message_id = next(self._ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params or {}}
        if session_id:
            message["sessionId"] = session_id
        self._socket.send(json.dumps(message))
        self.pump_until(lambda: message_id in self._pending, timeout=self._timeout)
        answer = self._pending.pop(message_id)
        if "error" in answer:
            raise RuntimeError(f"{method} failed: {answer['error'].get('message')}")
        return answer.get("result", {})

    def pump_until(self, condition: Any, *, timeout: float) -> None:
        """Read messages until ``condition()`` holds, dispatching events to their pages."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer in time")
            message = json.loads(self._socket.receive())
            if "id" in message:
                self._pending[message["id"]] = message
            elif message.get("sessionId") in self._pages:
                self._pages[message["sessionId"]].on_event(message)

    def new_page(self, *, width: int = 1280, height: int = 900) -> Page:
        """Open a blank tab with the given viewport, recording errors and requests."""
        target_id = self.command("Target.createTarget", {"url": "about:blank"})["targetId"]
        session_id = self.command("Target.attachToTarget", {"targetId": target_id, "flatten": True})["sessionId"]
        page = Page(browser=self, session_id=session_id, target_id=target_id)
        self._pages[session_id] = page
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.send(f"{domain}.enable")
        page.set_viewport(width=width, height=height)
        return page

    def close(self) -> None:
        """Stop Chromium and remove its profile."""
        socket_ = getattr(self, "_socket", None)
        if socket_ is not None:
            socket_.close()
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self._profile, ignore_errors=True)
        self._log_path.unlink(missing_ok=True)


@contextmanager
def headless_chromium(*, timeout: float = 30.0) -> Iterator[Browser]:
    """A headless Chromium for the duration of the ``with`` block."""
    browser = Browser(timeout=timeout)
    try:
        yield browser
    finally:
        browser.close()
