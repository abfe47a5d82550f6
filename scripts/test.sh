#!/usr/bin/env bash
# Set up what the tests need on a fresh Debian/Ubuntu machine (once), then run the whole suite.
# Extra arguments go to pytest, e.g. ./scripts/test.sh -k rtsp -x
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: GStreamer's RTSP server (real RTSP tests), Chromium (report test), ffmpeg (pipe test).
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
if ! /usr/bin/python3 -c "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer" >/dev/null 2>&1; then
  need+=(python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
         gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav)
fi
if ((${#need[@]})); then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "installing system packages: ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Python environment: torch/torchvision and friends pinned to the versions we test with.
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints-ci.txt -e ".[dev,fast,ray,int8]"

exec .venv/bin/python -m pytest "$@"
