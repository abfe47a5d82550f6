"""A real RTSP server on 127.0.0.1 for tests: serves one H.264 video file.

Runs with Debian's own ``/usr/bin/python3`` (GStreamer's ``gi`` bindings are
system packages: python3-gi, gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-good
and -bad), not with the project's virtual environment::

    /usr/bin/python3 tests/rtsp_server.py VIDEO --port 8554 --mount /stream

The file (.mp4/.mov, .mkv or .ts with H.264) is streamed in real time from its
start to every client that connects; ``rtsp://127.0.0.1:PORT/MOUNT`` then reads
it. The server prints ``ready`` once it listens and stops on SIGTERM or SIGINT.

Tests (in the project's environment) start and stop it with :class:`RtspServerProcess`;
GStreamer is imported only inside the server process.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"

DEMUXERS = {".mp4": "qtdemux", ".mov": "qtdemux", ".m4v": "qtdemux", ".mkv": "matroskademux", ".ts": "tsdemux"}


def launch_line(video: Path) -> str:
    """The media pipeline for one client: demux, parse and packetise the H.264 stream."""
    demuxer = DEMUXERS.get(video.suffix.lower())
    if demuxer is None:
        raise SystemExit(f"unsupported container {video.suffix!r}; use one of {', '.join(DEMUXERS)}")
    location = str(video.resolve()).replace('"', '\\"')
    return f'( filesrc location="{location}" ! {demuxer} ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )'


def main(argv: list[str] | None = None) -> int:
    """Serve the file until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path, help="H.264 video file (.mp4, .mov, .mkv, .ts)")
    parser.add_argument("--port", type=int, default=8554)
    parser.add_argument("--mount", default="/stream")
    parser.add_argument("--address", default="127.0.0.1")
    args = parser.parse_args(argv)
    if not args.video.is_file():
        raise SystemExit(f"no such file: {args.video}")

    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.address)
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(args.video))
    factory.set_shared(False)
    server.get_mount_points().add_factory(args.mount, factory)
    if server.attach(None) == 0:
        raise SystemExit(f"cannot listen on {args.address}:{args.port}")

    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    print("ready", flush=True)
    loop.run()
    return 0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class RtspServerProcess:
    """This script as a child process run by the system Python, for tests.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. :meth:`kill`
    makes it die abruptly (like a camera losing power), :meth:`pause` and
    :meth:`resume` freeze it (like a hung camera: connections stay open, no data).
    """

    def __init__(self, video: Path, *, port: int | None = None, mount: str = "/stream") -> None:
        self.video = Path(video)
        self.port = port if port is not None else free_port()
        self.mount = mount
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the server; closed in __exit__)

    @property
    def url(self) -> str:
        """The stream's RTSP URL."""
        return f"rtsp://127.0.0.1:{self.port}{self.mount}"

    def start(self, *, timeout: float = 20.0) -> RtspServerProcess:
        """Start the server and wait until its port accepts connections."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("the RTSP server is already running")
        command = [SYSTEM_PYTHON, __file__, str(self.video), "--port", str(self.port), "--mount", self.mount]
        env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRTUAL_ENV"))}
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=self._log, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the RTSP server exited with {self.process.returncode}: {self.log()}")
            if _accepts_connections(self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the RTSP server did not listen on port {self.port} within {timeout} s")

    def log(self) -> str:
        """What the server wrote to stderr so far."""
        self._log.seek(0)
        return self._log.read().decode(errors="replace").strip()

    def kill(self) -> None:
        """Kill the server at once (SIGKILL) and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(timeout=10)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): its sockets stay open but it sends nothing."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Unfreeze the server (SIGCONT)."""
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()

    def __enter__(self) -> RtspServerProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        self._log.close()


if __name__ == "__main__":
    sys.exit(main())
