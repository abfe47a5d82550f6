"""``detector.imgsz: auto``: an input size that follows the size of the people in the video.

A detector finds small people only when its input is large enough, and a larger
input costs time roughly with its area (1280 is about 4x the work of 640). How
small "too small" is depends on the model and the footage (on PETS09-S2L1,
yolo11n-pose finds 12 % of the people at 640 and 93 % at 1280, though the same
people are as tall in pixels as those it finds at 640 on the sample street film), so
it is measured, not guessed. While the stream runs, the largest candidate size
detects every frame; a few probe frames, spread over time, are also detected at
each smaller size. Once the largest size has seen enough people, the smallest size
that finds nearly as many (``keep_fraction``) is kept. A smaller size stays watched: every
``RECHECK_PROBES`` probe spacings one of its frames is also detected at the largest size, and
where, over the last ``SIZE_WINDOW`` such frames, it finds fewer than ``keep_fraction`` of the
people the largest finds (people further away than in the first seconds; half the evidence the
first choice needs is enough to go back to the safe side), the largest is used from then on.
Nothing is decoded or detected twice except the probe frames.

When the largest size is kept because the smallest misses people, ``detector.region`` may
run the largest only on the part of the frame where they were missed
(:mod:`streamreid.detect.regions`); the region is checked again on a probe frame every
``RECHECK_PROBES`` probe spacings (both sizes on the whole frame) and follows the people.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import supervision as sv

from streamreid.config import AUTO
from streamreid.detect.detector import iter_batched
from streamreid.detect.regions import RegionChoice, RegionDetector, RegionEvidence, choose_region, missed_people
from streamreid.types import Frame

RECHECK_PROBES = 4
"""Once the region is chosen, probe spacings between two re-checks (2 s of video at the usual 0.5 s: a whole frame
at both sizes every 30 detected frames at 15 a second, ~3 % more work, so people who walk out of the region are
found again within seconds)."""
REGION_WINDOW = 40
"""Probe frames the region is chosen on: the latest ones (the first seconds' probes, then one per re-check)."""
SIZE_WINDOW = 10
"""Re-check frames (the latest) on which a smaller size, once chosen, must keep finding ``keep_fraction`` of people."""


@dataclass(frozen=True)
class SizeProbe:
    """What the probe frames found at each candidate size.

    Attributes:
        sizes: Candidate input sizes, smallest first.
        people: Confident detections found at each size, summed over the probe frames.
        frames: Probe frames so far.
    """

    sizes: tuple[int, ...]
    people: tuple[int, ...]
    frames: int = 0

    @classmethod
    def start(cls, sizes: Iterable[int]) -> SizeProbe:
        """An empty probe over ``sizes`` (deduplicated, sorted)."""
        ordered = tuple(sorted({int(size) for size in sizes}))
        return cls(sizes=ordered, people=(0,) * len(ordered))

    def add(self, people: Sequence[int]) -> SizeProbe:
        """The probe with one more frame, where each size found ``people[i]`` people."""
        total = tuple(before + int(now) for before, now in zip(self.people, people, strict=True))
        return replace(self, people=total, frames=self.frames + 1)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for ``run.json``."""
        return {"frames": self.frames, "people": {str(s): n for s, n in zip(self.sizes, self.people, strict=True)}}


@dataclass(frozen=True)
class InputSizeChoice:
    """The input size kept, and the evidence.

    Attributes:
        imgsz: The size used from the choice on.
        reason: One sentence for people.
        probe: The probe it was chosen on.
    """

    imgsz: int
    reason: str
    probe: SizeProbe

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for ``run.json``."""
        return {"imgsz": self.imgsz, "reason": self.reason, "probe": self.probe.to_dict()}


def choose_input_size(
    probe: SizeProbe, *, min_people: int = 30, min_frames: int = 4, keep_fraction: float = 0.9
) -> InputSizeChoice | None:
    """The smallest size that finds ``keep_fraction`` of the people the largest finds, once there is evidence.

    Args:
        probe: What each size found on the probe frames.
        min_people: People the largest size must have found before anything is decided.
        min_frames: Probe frames needed before anything is decided.
        keep_fraction: Share of the largest size's people a smaller size must find to be chosen.

    Returns:
        The choice, or ``None`` while the evidence is too thin (keep the largest size meanwhile).
    """
    if len(probe.sizes) == 1:
        return InputSizeChoice(imgsz=probe.sizes[0], reason="the only candidate size", probe=probe)
    largest, found = probe.sizes[-1], probe.people[-1]
    if probe.frames < min_frames or found < min_people:
        return None
    for size, people in zip(probe.sizes, probe.people, strict=True):
        if people >= keep_fraction * found:
            share = people / found
            reason = (
                f"finds {share:.0%} of the people {largest} finds ({people} of {found} on {probe.frames} probe frames)"
                if size != largest
                else f"smaller sizes miss people ({_shares(probe)})"
            )
            return InputSizeChoice(imgsz=size, reason=reason, probe=probe)
    raise AssertionError("the largest size always finds all its own people")


def enlarge_choice(
    window: SizeProbe, *, chosen: InputSizeChoice, frame: int, min_people: int = 30, keep_fraction: float = 0.9
) -> InputSizeChoice | None:
    """The largest size, where the smaller ``chosen`` one now misses people on the re-check frames of ``window``.

    Args:
        window: People found at the chosen size and at the largest on the latest re-check frames.
        chosen: The size in use.
        frame: Detected frames so far (for the reason).
        min_people: People the largest size must have found in the window before anything changes.
        keep_fraction: Share of the largest size's people the chosen size must keep finding.

    Returns:
        The choice of the largest size, or ``None`` to keep the chosen one.
    """
    largest, found = window.sizes[-1], window.people[-1]
    if found < min_people or window.people[0] >= keep_fraction * found:
        return None
    reason = (
        f"{chosen.imgsz} was chosen first ({chosen.reason}) but then found {window.people[0] / found:.0%} of the "
        f"people {largest} finds ({window.people[0]} of {found} on the last {window.frames} re-check frames); "
        f"{largest} from detected frame {frame} on"
    )
    return InputSizeChoice(imgsz=largest, reason=reason, probe=window)


def _shares(probe: SizeProbe) -> str:
    found = probe.people[-1]
    return ", ".join(
        f"{size}: {people / found:.0%}" for size, people in zip(probe.sizes[:-1], probe.people[:-1], strict=True)
    )


def probe_every_for(fps: float | None, *, frame_step: int, spacing_s: float = 0.5) -> int:
    """Detected frames between two probe frames, so that probes are ``spacing_s`` seconds of video apart.

    Args:
        fps: The video's frame rate (``None`` or not positive: unknown, every detected frame is a probe).
        frame_step: Decoded frames between two detected frames (source stride x detect stride).
        spacing_s: Seconds of video between two probe frames.
    """
    if fps is None or not fps > 0:
        return 1
    return max(1, round(fps * spacing_s / max(1, frame_step)))


def count_people(detections: sv.Detections, *, confidence: float) -> int:
    """Detections at or above ``confidence``: the people a tracker would start tracks from."""
    return int(np.count_nonzero(detections.confidence >= confidence)) if detections.confidence is not None else 0


class AdaptiveSizeDetector:
    """A person detector whose input size is chosen from the stream (see the module docstring).

    It runs one detector per candidate size (the same weights, runtime and options) and
    answers like the one in use: the largest until the choice, the chosen one after.

    Attributes:
        size_choice: The size kept, once chosen (``None`` while probing).
        first_choice: The smaller size chosen first, where the largest replaced it later (else ``None``).
        probe: The evidence so far.
    """

    def __init__(
        self,
        detectors: dict[int, Any],
        *,
        probe_every: int = 1,
        confidence: float = 0.25,
        min_people: int = 30,
        keep_fraction: float = 0.9,
        region: bool = False,
        region_every: int = 1,
        region_max_cost: float = 0.7,
    ) -> None:
        """Probe ``detectors`` (input size → detector) on every ``probe_every``-th detected frame.

        Args:
            detectors: One detector per candidate size, each with ``detect(images)``.
            probe_every: Detected frames between two probe frames.
            confidence: Detections at or above it count as people.
            min_people: People the largest size must see before the choice.
            keep_fraction: Share of the largest size's people a smaller size must find.
            region: Where the largest size is kept, run it only on the region where the smallest misses people.
            region_every: The region is detected on one detected frame in this many.
            region_max_cost: The region is used where it costs at most this share of the largest size.
        """
        if not detectors:
            raise ValueError("AdaptiveSizeDetector needs at least one detector")
        self._detectors = dict(detectors)
        self._options = {"min_people": int(min_people), "keep_fraction": float(keep_fraction)}
        self._probe_every = max(1, int(probe_every))
        self._confidence = float(confidence)
        self._detected = 0
        self.probe = SizeProbe.start(self._detectors)
        self._region_options = {"tile_every": max(1, int(region_every)), "max_cost": float(region_max_cost),
                                "keep_fraction": float(keep_fraction), "min_people": int(min_people)}  # fmt: skip
        self._region_on = bool(region) and len(self.probe.sizes) > 1
        self._evidence: RegionEvidence | None = None
        self._regional: RegionDetector | None = None
        self._since_check = self._frames_seen = 0
        self.region_choice: RegionChoice | None = None
        self.region_changes: list[dict[str, Any]] = []  # when the region came, moved or went (the last 20)
        self._watched: collections.deque[tuple[int, int]] | None = None  # a smaller size's re-check counts
        self.first_choice: InputSizeChoice | None = None
        self.size_choice = choose_input_size(self.probe, **self._options)
        self._in_use = self._detectors[self.size_choice.imgsz if self.size_choice else self.probe.sizes[-1]]

    def __getattr__(self, name: str) -> Any:
        """Everything else (``weights``, ``runtime``, ``precision``...) is the detector in use's."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._in_use, name)

    @property
    def imgsz(self) -> int:
        """The input size in use now."""
        return self.size_choice.imgsz if self.size_choice is not None else self.probe.sizes[-1]

    def to_dict(self) -> dict[str, Any]:
        """The detector in use, with how its size was (or is being) chosen."""
        sizing = self.size_choice.to_dict() if self.size_choice is not None else {"probing": self.probe.to_dict()}
        if self.first_choice is not None:
            sizing["first"] = self.first_choice.to_dict()
        if self.region_choice is not None:
            sizing["region"] = {**self.region_choice.to_dict(), "changes": list(self.region_changes)}
        return {**self._in_use.to_dict(), "imgsz": self.imgsz, "input_size": {"candidates": list(self.probe.sizes),
                                                                                **sizing}}  # fmt: skip

    def detect(self, images: Sequence[np.ndarray]) -> list[sv.Detections]:
        """Detect people with the size in use; while probing, also at the smaller sizes on probe frames.

        Where the region is on, the smallest size on the whole frame and the largest on the region.
        """
        images = list(images)
        self._frames_seen += len(images)
        found = (self._regional or self._in_use).detect(images)
        if self.size_choice is None:
            self._learn(images, found)
        elif self._evidence is not None:
            self._recheck(images, found)
        elif self._watched is not None:
            self._watch(images, found)
        return found

    def iter_detections(
        self, frames: Iterable[Frame], *, detect_stride: int = 1
    ) -> Iterator[tuple[Frame, sv.Detections | None]]:
        """Like :meth:`streamreid.detect.detector.PersonDetector.iter_detections`, in the size in use."""
        batch_size = int(getattr(self._in_use, "batch_size", 4))
        return iter_batched(frames, self.detect, batch_size=batch_size, detect_stride=detect_stride)

    def _learn(self, images: list[np.ndarray], largest: list[sv.Detections]) -> None:
        positions = [i for i in range(len(images)) if (self._detected + i) % self._probe_every == 0]
        self._detected += len(images)
        if not positions:
            return
        probed = [images[i] for i in positions]
        per_size = {self.probe.sizes[-1]: [largest[i] for i in positions]}
        for size in self.probe.sizes[:-1]:
            per_size[size] = self._detectors[size].detect(probed)
        for index in range(len(positions)):
            counts = [count_people(per_size[size][index], confidence=self._confidence) for size in self.probe.sizes]
            self.probe = self.probe.add(counts)
        if self._region_on:
            small, large = (per_size[size] for size in (self.probe.sizes[0], self.probe.sizes[-1]))
            for image, found_small, found_large in zip(probed, small, large, strict=True):
                self._add_evidence(image, found_small, found_large)
        self.size_choice = choose_input_size(self.probe, **self._options)
        if self.size_choice is None:
            return
        self._in_use = self._detectors[self.size_choice.imgsz]
        if self._region_on and self.size_choice.imgsz == self.probe.sizes[-1]:
            self._detectors = {size: self._detectors[size] for size in (self.probe.sizes[0], self.probe.sizes[-1])}
            self._choose_region()
        else:  # the others are no longer needed, but for the largest while a smaller size is watched
            largest = self.probe.sizes[-1]
            self._detectors = {self.size_choice.imgsz: self._in_use, largest: self._detectors[largest]}
            self._evidence = None
            if self.size_choice.imgsz != largest:
                self._watched = collections.deque(maxlen=SIZE_WINDOW)

    def _recheck_due(self, images: list[np.ndarray]) -> bool:
        """Whether ``RECHECK_PROBES`` probe spacings have passed since the last re-check (counting ``images``)."""
        self._since_check += len(images)
        if self._since_check < RECHECK_PROBES * self._probe_every or not images:
            return False
        self._since_check = 0
        return True

    def _watch(self, images: list[np.ndarray], found: list[sv.Detections]) -> None:
        """Every ``RECHECK_PROBES`` probe spacings, a frame also at the largest size: switch where the chosen misses."""
        if not self._recheck_due(images):
            return
        chosen, largest = self.size_choice.imgsz, self.probe.sizes[-1]
        at_largest = self._detectors[largest].detect(images[:1])[0]
        self._watched.append((count_people(found[0], confidence=self._confidence),
                              count_people(at_largest, confidence=self._confidence)))  # fmt: skip
        people = (sum(counts[0] for counts in self._watched), sum(counts[1] for counts in self._watched))
        window = SizeProbe(sizes=(chosen, largest), people=people, frames=len(self._watched))
        evidence = {**self._options, "min_people": max(1, self._options["min_people"] // 2)}  # the safe side: less
        choice = enlarge_choice(window, chosen=self.size_choice, frame=self._frames_seen, **evidence)
        if choice is None:
            return
        self.first_choice, self.size_choice = self.size_choice, choice
        self._in_use = self._detectors[largest]
        self._detectors, self._watched = {largest: self._in_use}, None

    def _add_evidence(self, image: np.ndarray, small: sv.Detections, large: sv.Detections) -> None:
        if self._evidence is None:
            self._evidence = RegionEvidence(shape=(int(image.shape[0]), int(image.shape[1])), max_frames=REGION_WINDOW)
        self._evidence = self._evidence.add(missed_people(small, large, confidence=self._confidence))

    def _choose_region(self) -> None:
        """(Re)decide the region on the evidence; no decision (thin evidence, nobody missed) keeps what runs."""
        if self._evidence is None:
            return
        sizes = (self.probe.sizes[0], self.probe.sizes[-1])
        choice = choose_region(self._evidence, sizes=sizes, **self._region_options)
        if choice is None:
            return
        if self.region_choice is None or choice.region != self.region_choice.region:
            region = choice.region.to_dict() if choice.region is not None else None
            self.region_changes = [*self.region_changes, {"detected_frames": self._frames_seen, "region": region}][-20:]
        self.region_choice = choice
        if choice.region is None:
            self._regional = None
        elif self._regional is None:
            self._regional = RegionDetector(self._detectors[sizes[0]], self._detectors[sizes[1]], region=choice.region,
                                            tile_every=self._region_options["tile_every"])  # fmt: skip
        else:
            self._regional.region = choice.region

    def _recheck(self, images: list[np.ndarray], found: list[sv.Detections]) -> None:
        """Every ``RECHECK_PROBES`` probe spacings, one frame at both sizes on the whole frame: the region follows."""
        if not self._recheck_due(images):
            return
        small, large = (self._detectors[size] for size in (self.probe.sizes[0], self.probe.sizes[-1]))
        found_large = large.detect(images[:1])[0] if self._regional is not None else found[0]
        self._add_evidence(images[0], small.detect(images[:1])[0], found_large)
        self._choose_region()


def build_sized_detector(
    *,
    imgsz: int | str,
    imgsz_candidates: Sequence[int],
    frame_shape: tuple[int, int] | None = None,
    probe_every: int = 1,
    people_confidence: float = 0.25,
    region: bool = False,
    region_every: int = 1,
    region_max_cost: float = 0.7,
    **options: Any,
) -> Any:
    """The person detector for ``options``; with ``imgsz="auto"`` one that picks its size from the stream.

    The largest candidate is built first (``runtime: auto`` is measured on it); the
    smaller ones run in the runtime and precision it got, so nothing is measured twice.

    Args:
        imgsz: An input size, or ``auto``.
        imgsz_candidates: The sizes ``auto`` chooses from.
        frame_shape: ``(height, width)`` of the stream's frames (for timing the runtimes).
        probe_every: Detected frames between two probe frames.
        people_confidence: Detections at or above it count as people in the probe.
        region: With ``auto``, run the largest size only on the region where the smallest misses people.
        region_every: The region is detected on one detected frame in this many.
        region_max_cost: The region is used where it costs at most this share of the largest size.
        **options: :func:`streamreid.detect.runtimes.build_person_detector` options.

    Returns:
        A :class:`~streamreid.detect.detector.PersonDetector`, or an :class:`AdaptiveSizeDetector`.
    """
    from streamreid.detect.runtimes import build_person_detector

    if imgsz != AUTO:
        return build_person_detector(imgsz=int(imgsz), frame_shape=frame_shape, **options)
    sizes = sorted({int(size) for size in imgsz_candidates})
    largest = build_person_detector(imgsz=sizes[-1], frame_shape=frame_shape, **options)
    detectors = {sizes[-1]: largest}
    for size in sizes[:-1]:
        detectors[size] = build_person_detector(imgsz=size, **{**options, "runtime": largest.runtime})
        detectors[size].runtime_choice = largest.runtime_choice
    return AdaptiveSizeDetector(detectors, probe_every=probe_every, confidence=people_confidence, region=region,
                                region_every=region_every, region_max_cost=region_max_cost)  # fmt: skip
