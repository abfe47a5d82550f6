"""What the report shows, as typed records: persons, the merges that made them, the pairs to check."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from streamreid.run.reviews import Review
from streamreid.types import Person


@dataclass(frozen=True)
class Visit:
    """One tracklet's stay on screen: when, in seconds."""

    tracker_id: int
    start_time: float
    end_time: float


@dataclass(frozen=True)
class Side:
    """Some of a person's tracklets, as the report pictures them: a piece of a person, or one side of a merge.

    Attributes:
        tracklet_ids: Tracker ids, in time order.
        start_time: First sighting, seconds.
        end_time: Last sighting, seconds.
        picture: Best-crops strip relative to the run directory, or ``None``.
        path: Foot points ``(x, y)`` in source pixels, thinned, in time order.
    """

    tracklet_ids: tuple[int, ...]
    start_time: float
    end_time: float
    picture: str | None = None
    path: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class Link:
    """A merge already applied inside a person: two groups of its tracklets judged to be one human.

    Attributes:
        groups: Tracker ids of the two sides (earlier side first).
        reason: ``space-time`` (the five grouping checks), ``appearance`` (ReID) or ``decision`` (the user).
        confidence: How sure the stage was, 0-1, or ``None`` when it does not say.
        detail: The evidence, in words.
        similarity: The two sides' appearance similarity when merged, or ``None``.
        line: The video's line that similarity was judged against, or ``None``.
        sides: The two sides pictured (filled by :func:`load_report_data`).
    """

    groups: tuple[tuple[int, ...], tuple[int, ...]]
    reason: str
    confidence: float | None
    detail: str
    similarity: float | None = None
    line: float | None = None
    sides: tuple[Side, ...] = ()


@dataclass(frozen=True)
class PersonView:
    """A person as the report shows it: the stage's :class:`Person` and what other stages said about it.

    Attributes:
        person: The canonical person.
        rank: 1-based rank, or ``None`` when unranked.
        score: Ranking score, or ``None``.
        coverage: Ranking's coverage component (share of detected frames), or ``None``.
        quality: Mean score of the person's kept crops, or ``None``.
        animation: WebP path relative to the run directory, or ``None``.
        crops: Best-crops strip relative to the run directory, or ``None``.
        visits: Each tracklet's time span, in time order.
        path: Foot points ``(x, y)`` in source pixels, thinned, in time order.
        links: The merges that made this person.
        pieces: Each tracklet of a person made of several, pictured, in time order.
    """

    person: Person
    rank: int | None = None
    score: float | None = None
    coverage: float | None = None
    quality: float | None = None
    animation: str | None = None
    crops: str | None = None
    visits: tuple[Visit, ...] = ()
    path: tuple[tuple[float, float], ...] = ()
    links: tuple[Link, ...] = ()
    pieces: tuple[Side, ...] = ()

    @property
    def person_id(self) -> int:
        """Id of the person."""
        return self.person.person_id

    @property
    def seconds(self) -> float:
        """Seconds from the first to the last sighting."""
        return max(0.0, self.person.end_time - self.person.start_time)


@dataclass(frozen=True)
class Recommendation:
    """A pair the ReID stage says may be one person, as it wrote it."""

    persons: tuple[int, int]
    similarity: float | None
    confidence: float | None
    level: str


@dataclass(frozen=True)
class SimilarityView:
    """The similarity matrix, its lines and the appearance clusters.

    Attributes:
        person_ids: Person id of each row and column.
        matrix: ``(P, P)`` similarities (NaN where unknown).
        threshold: The fixed reference line.
        near_threshold: Lower end of the "near" band.
        calibrated_threshold: The line calibrated on this video, or ``None``.
        method: How person similarity was computed.
        clusters: Appearance clusters (person ids), or ``()`` when unknown.
    """

    person_ids: tuple[int, ...]
    matrix: np.ndarray = field(repr=False)
    threshold: float
    near_threshold: float
    calibrated_threshold: float | None
    method: str = ""
    clusters: tuple[tuple[int, ...], ...] = ()

    @property
    def line(self) -> float:
        """The line that decides for this video: the calibrated one when known, else the fixed one."""
        return self.calibrated_threshold if self.calibrated_threshold is not None else self.threshold

    def value(self, a: int, b: int) -> float:
        """Similarity of persons ``a`` and ``b`` (NaN when either is not in the matrix)."""
        index = {pid: i for i, pid in enumerate(self.person_ids)}
        if a not in index or b not in index:
            return math.nan
        return float(self.matrix[index[a], index[b]])


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, read from one run directory.

    Attributes:
        run_dir: The run directory.
        run: Contents of run.json.
        source: The source as shown to people (the one place it is displayed from).
        persons: Persons in rank order.
        similarity: The matrix, or ``None`` when ReID did not run.
        recommendations: Pairs to check, ranked by the stage; ``None`` when there are none to read.
        reviews: Reviews the user already applied (``streamreid apply``).
        scene: The scene still relative to the run directory, or ``None``.
        frame_size: ``(width, height)`` of the source frames.
        duration: Seconds of video covered.
        notes: Notes about the run and about missing inputs.
    """

    run_dir: Path
    run: Mapping[str, Any]
    source: str
    persons: tuple[PersonView, ...]
    similarity: SimilarityView | None
    recommendations: tuple[Recommendation, ...] | None
    reviews: tuple[Review, ...] = ()
    scene: str | None = None
    frame_size: tuple[int, int] = (640, 360)
    duration: float = 0.0
    notes: tuple[str, ...] = ()

    @property
    def tracklets(self) -> int:
        """Tracklets that make up the persons."""
        return sum(len(p.person.tracklet_ids) for p in self.persons)

    @property
    def links(self) -> tuple[tuple[PersonView, Link], ...]:
        """Every merge applied, with the person it made."""
        return tuple((p, link) for p in self.persons for link in p.links)
