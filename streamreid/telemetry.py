"""No usage data leaves the machine: OpenVINO's and NNCF's telemetry are switched off for the process.

``import openvino`` (2026.4) sends a "general_import" event through the ``openvino_telemetry``
package, which forks a child per message to reach Google Analytics; without network that child
can sit in a DNS lookup, and a parent waiting on its children (pytest, a run at exit) hangs.
OpenVINO and NNCF both fall back to a do-nothing stub when ``openvino_telemetry`` cannot be
imported, so :func:`quiet_openvino` makes that import fail for this process, before anything
imports OpenVINO (``streamreid/__init__.py`` calls it). ``STREAMREID_OPENVINO_TELEMETRY=1``
leaves telemetry as OpenVINO's own settings have it.
"""

from __future__ import annotations

import os
import sys

#: The package OpenVINO and NNCF send their usage data with.
TELEMETRY_MODULE = "openvino_telemetry"


def quiet_openvino() -> bool:
    """Switch OpenVINO's and NNCF's telemetry off for this process, unless ``STREAMREID_OPENVINO_TELEMETRY=1``.

    Returns:
        Whether it is off: ``False`` when the user keeps it, or when ``openvino_telemetry`` was
        imported before streamreid (then it is too late: OpenVINO sent its import event already).
    """
    if os.environ.get("STREAMREID_OPENVINO_TELEMETRY") == "1":
        return False
    os.environ.setdefault("NNCF_CI", "1")  # NNCF's own switch (telemetry only), inherited by child processes
    if TELEMETRY_MODULE not in sys.modules:
        sys.modules[TELEMETRY_MODULE] = None  # type: ignore[assignment]  # `import openvino_telemetry` fails: stub
    return telemetry_is_off()


def telemetry_is_off() -> bool:
    """Whether OpenVINO finds no telemetry package in this process (it then uses its do-nothing stub)."""
    return TELEMETRY_MODULE in sys.modules and sys.modules[TELEMETRY_MODULE] is None
