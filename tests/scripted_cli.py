"""The real ``streamreid`` command line with the scripted detector, for tests of live runs in a subprocess.

Usage: ``python tests/scripted_cli.py NUM_FRAMES FPS WIDTH HEIGHT [--detect-seconds S] -- streamreid arguments``.
The detector sees :func:`synthetic.scenario_reentry_crossing` with those parameters
(the scene the test served), and takes ``S`` seconds per call to stand in for a
slow machine. Everything else (sources, signals, stores, report) is the real thing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import ScriptedDetector, scenario_reentry_crossing  # noqa: E402

from streamreid import cli, pipeline  # noqa: E402


class SlowScriptedDetector(ScriptedDetector):
    """The scripted detector, taking ``seconds`` per detection like a real model on a slow CPU."""

    def __init__(self, *args, seconds: float = 0.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seconds = seconds

    def detect(self, frame):
        if self.seconds:
            time.sleep(self.seconds)
        return super().detect(frame)


def main() -> int:
    """Parse the scene, patch the detector in, run the CLI."""
    argv = sys.argv[1:]
    split = argv.index("--")
    parser = argparse.ArgumentParser()
    for name in ("num_frames", "fps", "width", "height"):
        parser.add_argument(name, type=float)
    parser.add_argument("--detect-seconds", type=float, default=0.0)
    args = parser.parse_args(argv[:split])
    scene = scenario_reentry_crossing(num_frames=int(args.num_frames), fps=args.fps, width=int(args.width),
                                      height=int(args.height))  # fmt: skip
    pipeline.build_detector = lambda config: SlowScriptedDetector(scene, seconds=args.detect_seconds)
    return cli.main(argv[split + 1 :])


if __name__ == "__main__":
    sys.exit(main())
