"""A person needs enough confident evidence: how long the detector was sure of them.

A tracker keeps short tracks made of a handful of boxes: a passer-by at the edge, a bag, a
reflection, a duplicate box of someone already tracked. Once grouping has linked the tracklets,
a person whose *firm* boxes (``tracker.high_conf_det_threshold`` or more, the boxes ByteTrack
trusts) span less than ``grouping.min_person_seconds`` is left out of the persons: no user
wants a "person" seen for a blink. The span is measured in seconds of video (first firm box to
last, by the stream's clock), so the rule is the same at 7 fps and 60 fps, with any detection
stride and on live sources; faint and filled boxes count for nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def firm_seconds(
    groups: Sequence[Sequence[int]],
    times: np.ndarray,
    owners: np.ndarray,
    confidences: np.ndarray,
    *,
    firm: float,
) -> list[float]:
    """Seconds from each group's first firm box to its last (0 with one firm box or none).

    Args:
        groups: Tracker ids per person.
        times: Stream time (seconds) of each detection row.
        owners: Tracker id of each row.
        confidences: Detector confidence of each row (filled rows are negative).
        firm: Boxes at or above this confidence are firm.
    """
    sure = np.asarray(confidences) >= firm
    times, owners = np.asarray(times, dtype=float)[sure], np.asarray(owners)[sure]
    spans = []
    for group in groups:
        seen = times[np.isin(owners, list(group))]
        spans.append(float(seen.max() - seen.min()) if len(seen) else 0.0)
    return spans


def enough_evidence(
    groups: Sequence[Sequence[int]],
    times: np.ndarray,
    owners: np.ndarray,
    confidences: np.ndarray,
    *,
    firm: float,
    min_seconds: float,
) -> list[tuple[int, ...]]:
    """The groups whose firm boxes span ``min_seconds`` or more (all of them when it is 0), in order.

    Arguments as :func:`firm_seconds`; ``min_seconds`` is ``grouping.min_person_seconds``.
    """
    if min_seconds <= 0:
        return [tuple(group) for group in groups]
    spans = firm_seconds(groups, times, owners, confidences, firm=firm)
    return [tuple(group) for group, span in zip(groups, spans, strict=True) if span >= min_seconds]
