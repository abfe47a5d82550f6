"""A real HTTP server on 127.0.0.1 for tests: serves one video file, with ranges, and can break once mid-file."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class VideoServer:
    """Serve ``path`` at ``http://127.0.0.1:PORT/NAME`` in a thread; use it in a ``with`` block.

    Args:
        path: The file to serve.
        break_at: Cut the first response that reaches this byte offset there (the connection
            drops mid-file, once); ``None`` never cuts.
        refuse_after_break: Answer this many requests after the cut with ``503`` (the server
            is briefly down, so a client's immediate retry fails too).

    Attributes:
        url: Where the file is served.
        requests: The ``Range`` header of each request (``None`` without one), in order.
    """

    def __init__(self, path: Path, *, break_at: int | None = None, refuse_after_break: int = 0) -> None:
        self.data = Path(path).read_bytes()
        self.name = Path(path).name
        self.break_at = break_at
        self.refusals = 0
        self.refuse_after_break = refuse_after_break
        self.requests: list[str | None] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/{self.name}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="test-http", daemon=True)

    def __enter__(self) -> VideoServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                if self.path.lstrip("/") != server.name:
                    self.send_error(404)
                    return
                header = self.headers.get("Range")
                server.requests.append(header)
                if server.refusals > 0:
                    server.refusals -= 1
                    self.send_error(503)
                    return
                size = len(server.data)
                start, end = 0, size - 1
                if header and header.startswith("bytes="):
                    first, _, last = header[len("bytes=") :].partition("-")
                    start, end = int(first or 0), int(last) if last else size - 1
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
                else:
                    self.send_response(200)
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(end - start + 1))
                self.end_headers()
                stop = end + 1
                cut = server.break_at
                if cut is not None and start < cut <= end:
                    server.break_at = None  # once
                    server.refusals = server.refuse_after_break
                    self.wfile.write(server.data[start:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)  # the connection drops mid-file
                    return
                self.wfile.write(server.data[start:stop])

        return Handler
