"""Run streamreid from a checkout without installing it: ``python cli.py process video.mp4``."""

import sys

from streamreid.cli import main

if __name__ == "__main__":
    sys.exit(main())
