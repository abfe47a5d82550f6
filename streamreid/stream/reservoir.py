"""Bounded, quality-ranked crop buffers per tracklet, filled in the single decode pass.

Every live tracklet has a :class:`TrackletReservoir` with two buffers; a crop can
be in both (its flags are :data:`BEST` | :data:`ANIMATION`), so a tracklet never
holds more than ``best_k + animation_frames`` crops, however long the video.

Best-K (re-identification)
    Keeps up to ``best_k`` crops with the highest quality scores, spread in time.
    Two crops are *neighbours* when their frame indices differ by less than
    ``min_spacing_frames``. The buffer has a *spread* part, whose crops are
    pairwise no neighbours, and a *reserve* that only fills slots the spread part
    cannot (so a tracklet shorter than ``best_k * min_spacing_frames`` frames
    still keeps ``best_k`` crops; the neighbours it then holds are unavoidable).
    A candidate crop:

    1. with neighbours in the spread part competes only with them: when its
       score beats all of theirs it takes their place and they move to the
       reserve; otherwise it goes to the reserve;
    2. without neighbours joins the spread part when that has a free slot
       (taking it from the reserve if need be: spread comes first), or else
       replaces the worst spread crop when it scores higher.

    The reserve holds at most ``best_k - len(spread)`` crops, dropping the
    lowest-scoring first, and a reserve crop that no longer has a neighbour in
    the spread part is moved there (best first). Once a tracklet is long enough
    the reserve is empty and no two best crops are closer than
    ``min_spacing_frames``.

Animation (the WebP)
    Evenly spaced across the whole tracklet: the first detection is kept, then
    the first detection at least ``stride`` frames after the last kept one
    (``stride`` starts at 1). When a crop is due but the buffer already holds
    ``animation_frames`` crops, every second kept crop is dropped (the first one
    stays) and the stride doubles, or grows to the smallest gap left between the
    kept crops when that is larger (frame indices that step by more than one, as
    with a decode stride, would otherwise keep new crops closer than the old
    ones). The buffer therefore always spans the whole
    stay so far with roughly uniform gaps, holding between half and all of
    ``animation_frames`` crops once the tracklet is long.

:class:`CropCollector` keeps the reservoirs of all live tracklets. Per frame it
scores every box once (:func:`streamreid.stream.quality.compute_quality`) without its
sharpness, asks each tracklet's reservoir whether a buffer would take the crop were it
perfectly sharp (the score grows with sharpness, and a buffer's choice with the score), measures
the sharpness of those boxes only, asks again with their real scores and cuts and resizes only
the wanted crops (no pixels are read for the others).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import TYPE_CHECKING

import cv2
import numpy as np

from streamreid.config import CropConfig
from streamreid.stream.picture import resized_region
from streamreid.stream.quality import compute_quality, measure_sharpness, quality_components
from streamreid.types import CropSample, Frame

if TYPE_CHECKING:  # supervision is slow to import and only its type is needed here
    import supervision as sv

BEST = 1
"""Flag of the best-K buffer (re-identification crops)."""

ANIMATION = 2
"""Flag of the evenly spaced buffer (animation crops)."""


class TrackletReservoir:
    """The two bounded crop buffers of one tracklet (see the module docstring).

    Args:
        tracker_id: Tracklet the crops belong to.
        best_k: Size of the best-K buffer (0 switches it off).
        animation_frames: Size of the animation buffer (0 switches it off).
        min_spacing_frames: Best crops closer than this many frames compete for one slot.

    Raises:
        ValueError: A size or the spacing is negative.
    """

    def __init__(self, tracker_id: int, *, best_k: int = 16, animation_frames: int = 60, min_spacing_frames: int = 5):
        for name, value in (
            ("best_k", best_k),
            ("animation_frames", animation_frames),
            ("min_spacing_frames", min_spacing_frames),
        ):
            if value < 0:
                raise ValueError(f"{name} must be 0 or more, got {value}")
        self.tracker_id = int(tracker_id)
        self.best_k = int(best_k)
        self.animation_frames = int(animation_frames)
        self.min_spacing_frames = int(min_spacing_frames)
        self._spread: list[CropSample] = []  # pairwise no neighbours, in frame order
        self._spread_frames: list[int] = []  # their frame indices, for bisect
        self._reserve: list[CropSample] = []
        self._animation: list[CropSample] = []  # in frame order
        self._stride = 1
        self._next_due: int | None = None

    def __len__(self) -> int:
        """Number of distinct crops held."""
        return len({id(s) for s in (*self._spread, *self._reserve, *self._animation)})

    @property
    def stride(self) -> int:
        """Current spacing, in frames, between animation crops."""
        return self._stride

    def wants(self, frame_index: int, score: float) -> int:
        """Which buffers would keep a crop of this frame with this score.

        Args:
            frame_index: Frame the crop would come from.
            score: Its quality score.

        Returns:
            ``BEST | ANIMATION`` flags; 0 means the crop need not be cut.
        """
        flags = 0
        if self._best_plan(frame_index, score) is not None:
            flags |= BEST
        if self._animation_wants(frame_index):
            flags |= ANIMATION
        return flags

    def offer(self, sample: CropSample) -> None:
        """Keep ``sample`` in the buffers that want it (see :meth:`wants`), dropping what it displaces."""
        frame_index, score = int(sample.frame_index), float(sample.quality.score)
        plan = self._best_plan(frame_index, score)
        if plan is not None:
            self._apply_best(sample, plan)
        if self._animation_wants(frame_index):
            self._append_animation(sample)

    def samples(self) -> tuple[list[CropSample], list[int]]:
        """The kept crops in time order and the buffer flags of each."""
        flags: dict[int, int] = {}
        by_id: dict[int, CropSample] = {}
        for sample in (*self._spread, *self._reserve):
            by_id[id(sample)] = sample
            flags[id(sample)] = BEST
        for sample in self._animation:
            by_id[id(sample)] = sample
            flags[id(sample)] = flags.get(id(sample), 0) | ANIMATION
        ordered = sorted(by_id.values(), key=lambda s: s.frame_index)
        return ordered, [flags[id(s)] for s in ordered]

    # Best-K --------------------------------------------------------------------------------------------------------

    def _neighbour_range(self, frame_index: int) -> tuple[int, int]:
        """Slice of the spread part whose frames are closer than the spacing to ``frame_index``."""
        spacing = self.min_spacing_frames
        if spacing <= 0:
            return 0, 0
        low = bisect_right(self._spread_frames, frame_index - spacing)
        high = bisect_left(self._spread_frames, frame_index + spacing)
        return low, high

    def _best_plan(self, frame_index: int, score: float) -> str | None:
        """How the best buffer would take a candidate, or ``None`` when it would not."""
        if self.best_k == 0:
            return None
        low, high = self._neighbour_range(frame_index)
        if high > low:
            if score > max(s.quality.score for s in self._spread[low:high]):
                return "beat_neighbours"
            free = self.best_k - len(self._spread) - len(self._reserve)
            if free > 0 or (self._reserve and score > min(s.quality.score for s in self._reserve)):
                return "reserve"
            return None
        if len(self._spread) < self.best_k:
            return "spread"
        if score > min(s.quality.score for s in self._spread):
            return "replace_worst"
        return None

    def _apply_best(self, sample: CropSample, plan: str) -> None:
        if plan == "beat_neighbours":
            low, high = self._neighbour_range(sample.frame_index)
            self._reserve.extend(self._spread[low:high])
            del self._spread[low:high]
            del self._spread_frames[low:high]
            self._add_spread(sample)
        elif plan == "reserve":
            self._reserve.append(sample)
        elif plan == "spread":
            self._add_spread(sample)
        else:  # replace_worst: the spread part is full, so the reserve is empty
            worst = min(range(len(self._spread)), key=lambda i: (self._spread[i].quality.score, i))
            del self._spread[worst]
            del self._spread_frames[worst]
            self._add_spread(sample)
        self._rebalance()

    def _add_spread(self, sample: CropSample) -> None:
        position = bisect_right(self._spread_frames, sample.frame_index)
        self._spread.insert(position, sample)
        self._spread_frames.insert(position, sample.frame_index)

    def _rebalance(self) -> None:
        """Trim the reserve to the free slots and move reserve crops without neighbours to the spread part."""
        self._reserve.sort(key=lambda s: s.quality.score, reverse=True)
        del self._reserve[max(self.best_k - len(self._spread), 0) :]
        remaining: list[CropSample] = []
        for sample in self._reserve:
            low, high = self._neighbour_range(sample.frame_index)
            if high == low and len(self._spread) < self.best_k:
                self._add_spread(sample)
            else:
                remaining.append(sample)
        self._reserve = remaining

    # Animation -----------------------------------------------------------------------------------------------------

    def _animation_wants(self, frame_index: int) -> bool:
        capacity = self.animation_frames
        if capacity == 0:
            return False
        if self._next_due is None:
            return True
        if frame_index < self._next_due:
            return False
        if len(self._animation) < capacity:
            return True
        if capacity == 1:
            return False
        thinned, stride = self._thinned_animation()
        return frame_index >= thinned[-1].frame_index + stride

    def _thinned_animation(self) -> tuple[list[CropSample], int]:
        """Every second kept crop, and the stride that goes with them."""
        thinned = self._animation[::2]
        frames = [s.frame_index for s in thinned]
        smallest_gap = min((b - a for a, b in zip(frames, frames[1:], strict=False)), default=0)
        return thinned, max(2 * self._stride, smallest_gap)

    def _append_animation(self, sample: CropSample) -> None:
        if len(self._animation) >= self.animation_frames:
            self._animation, self._stride = self._thinned_animation()
        self._animation.append(sample)
        self._next_due = int(sample.frame_index) + self._stride


def cut_crop(image: np.ndarray, xyxy: np.ndarray, *, height: int, width: int) -> np.ndarray:
    """Cut a box out of a frame and resize it to ``height`` x ``width`` (``INTER_AREA``).

    The part of the box outside the frame is padded black, so the person keeps its
    place and proportions in the crop; an empty box gives a black crop.

    Args:
        image: The frame, ``(H, W, 3)`` uint8.
        xyxy: Box ``(x1, y1, x2, y2)`` in pixels.
        height: Crop height.
        width: Crop width.

    Returns:
        ``(height, width, 3)`` uint8 crop.
    """
    frame_height, frame_width = image.shape[:2]
    box = np.asarray(xyxy, dtype=np.float64).reshape(4)
    # Bound runaway boxes (tracker predictions) so padding cannot blow up memory.
    x1, x2 = (int(v) for v in np.clip(np.round(box[[0, 2]]), -frame_width, 2 * frame_width))
    y1, y2 = (int(v) for v in np.clip(np.round(box[[1, 3]]), -frame_height, 2 * frame_height))
    inner_x1, inner_x2 = max(x1, 0), min(x2, frame_width)
    inner_y1, inner_y2 = max(y1, 0), min(y2, frame_height)
    if inner_x2 <= inner_x1 or inner_y2 <= inner_y1:
        return np.zeros((height, width, 3), dtype=np.uint8)
    rows, columns = slice(inner_y1, inner_y2), slice(inner_x1, inner_x2)
    pads = (inner_y1 - y1, y2 - inner_y2, inner_x1 - x1, x2 - inner_x2)
    if not any(pads):  # the usual box: resized straight from the frame's own pixels (picture.py)
        return resized_region(image, rows, columns, width=width, height=height)
    region = cv2.copyMakeBorder(image[rows, columns], *pads, borderType=cv2.BORDER_CONSTANT, value=(0, 0, 0))
    return cv2.resize(region, (width, height), interpolation=cv2.INTER_AREA)


class CropCollector:
    """The reservoirs of all live tracklets; the pipeline calls :meth:`update` on every frame.

    Args:
        config: Crop size, buffer sizes and quality exponents. With ``enabled``
            false the collector only scores boxes and keeps no crops.

    Attributes:
        last_quality: ``(N, 7)`` quality array of the last :meth:`update`, aligned
            with its detections (columns :data:`streamreid.stream.quality.COLUMNS`), or
            ``None`` before the first update. Where crops are kept, the sharpness and score of
            a box no reservoir would take even perfectly sharp are NaN (not measured).
    """

    def __init__(self, *, config: CropConfig):
        self._config = config
        self._reservoirs: dict[int, TrackletReservoir] = {}
        self.last_quality: np.ndarray | None = None

    def update(self, frame: Frame, detections: sv.Detections) -> None:
        """Score the tracked detections of one frame and keep the crops the reservoirs want.

        Args:
            frame: The decoded frame the detections belong to.
            detections: Tracked detections; ``tracker_id`` -1 (unconfirmed) or a
                missing ``tracker_id`` keeps no crop, but every box counts as a
                possible occluder.
        """
        count = len(detections)
        confidence = detections.confidence if detections.confidence is not None else np.ones(count)
        keeps = self._config.enabled and detections.tracker_id is not None
        # where crops are kept, the pixels are looked at only for boxes a reservoir could take
        quality = compute_quality(frame.pixels, detections.xyxy, confidence, config=self._config.quality,
                                  measure=np.zeros(count, dtype=bool) if keeps else None)  # fmt: skip
        self.last_quality = quality
        if not keeps:
            return
        candidates = self._candidates(frame.index, detections.tracker_id.tolist(), quality[:, -1].tolist())
        measure_sharpness(quality, frame.pixels, detections.xyxy, [row for row, _ in candidates],
                          config=self._config.quality)  # fmt: skip
        unmeasured = np.ones(count, dtype=bool)
        unmeasured[[row for row, _ in candidates]] = False
        quality[unmeasured, 5:] = np.nan  # not kept whatever their sharpness
        for row, reservoir in candidates:
            if not reservoir.wants(frame.index, float(quality[row, -1])):
                continue
            tracker_id = reservoir.tracker_id
            box = detections.xyxy[row]
            sample = CropSample(
                tracker_id=tracker_id,
                frame_index=frame.index,
                time=frame.time,
                xyxy=(float(box[0]), float(box[1]), float(box[2]), float(box[3])),
                quality=quality_components(quality[row]),
                image=cut_crop(frame.pixels, box, height=self._config.height, width=self._config.width),
            )
            reservoir.offer(sample)

    def _candidates(
        self, frame_index: int, tracker_ids: list[int], best_scores: list[float]
    ) -> list[tuple[int, TrackletReservoir]]:
        """Rows whose tracklet's reservoir would take the crop at its best score (sharpness 1), with the reservoir.

        The buffers' choice grows with the score, so the other rows would not be kept whatever their sharpness.
        Every tracked row gets its reservoir (made here when new).
        """
        candidates = []
        for row, tracker_id in enumerate(tracker_ids):
            if tracker_id < 0:
                continue
            reservoir = self._reservoirs.get(tracker_id)
            if reservoir is None:
                reservoir = TrackletReservoir(
                    tracker_id,
                    best_k=self._config.best_k,
                    animation_frames=self._config.animation_frames,
                    min_spacing_frames=self._config.min_spacing_frames,
                )
                self._reservoirs[tracker_id] = reservoir
            if reservoir.wants(frame_index, best_scores[row]):
                candidates.append((row, reservoir))
        return candidates

    def pop(self, tracker_id: int) -> tuple[list[CropSample], list[int]]:
        """Hand over the crops of an ended tracklet and forget it (frees its memory).

        Returns:
            The kept crops in time order and their buffer flags; empty lists for an unknown id.
        """
        reservoir = self._reservoirs.pop(int(tracker_id), None)
        if reservoir is None:
            return [], []
        return reservoir.samples()

    def peek(self) -> dict[int, tuple[list[CropSample], list[int]]]:
        """The crops kept so far of every live tracklet, leaving them in place (for checkpoints)."""
        return {tracker_id: reservoir.samples() for tracker_id, reservoir in self._reservoirs.items()}

    def live_ids(self) -> list[int]:
        """Tracker ids that currently have a reservoir, ascending."""
        return sorted(self._reservoirs)

    def num_crops(self) -> int:
        """Crops held in memory over all live tracklets."""
        return sum(len(r) for r in self._reservoirs.values())
