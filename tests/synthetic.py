"""Deterministic synthetic videos with ground truth, for tests and benchmarks.

A :class:`Scenario` is a static textured background with person-like figures
(:class:`Actor`: head, torso with sleeves, two legs, distinct clothing colours)
that move along straight keyframed paths. :meth:`Scenario.boxes` gives the exact
box, identity and visible share of every figure in a frame, so tracking, grouping
and occlusion handling can be checked against the truth. :func:`write_video`
encodes a scenario with PyAV; :class:`ScriptedDetector` turns the ground truth
into noisy detections with the same contract as the real person detector.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import cv2
import numpy as np
import supervision as sv

from streamreid.types import Frame
from streamreid.weights import ResolvedWeights

SKIN_BGR = (140, 170, 215)

# Fractions of the box height where the body parts start (head from 0, legs to 1).
_TORSO_TOP = 0.18
_LEGS_TOP = 0.58


@dataclass(frozen=True)
class Actor:
    """A person-like figure with a keyframed path.

    Attributes:
        identity: Ground-truth identity.
        top_bgr: Colour of the shirt (torso and sleeves).
        bottom_bgr: Colour of the trousers (legs).
        width: Box width in pixels.
        height: Box height in pixels (about 2-2.5 x width).
        keyframes: ``(frame, cx, cy)`` box centres; positions between keyframes are
            interpolated linearly and held constant before the first and after the last.
        visible: ``[start, end)`` frame intervals when the actor is in the scene.
    """

    identity: int
    top_bgr: tuple[int, int, int]
    bottom_bgr: tuple[int, int, int]
    width: int
    height: int
    keyframes: tuple[tuple[int, float, float], ...]
    visible: tuple[tuple[int, int], ...]

    def is_present(self, frame_index: int) -> bool:
        """Whether the actor is in the scene at ``frame_index`` (it may still be outside the picture)."""
        return any(start <= frame_index < end for start, end in self.visible)

    def center(self, frame_index: int) -> tuple[float, float]:
        """Box centre ``(cx, cy)`` at ``frame_index``."""
        frames = [k[0] for k in self.keyframes]
        cx = float(np.interp(frame_index, frames, [k[1] for k in self.keyframes]))
        cy = float(np.interp(frame_index, frames, [k[2] for k in self.keyframes]))
        return cx, cy

    def box(self, frame_index: int) -> tuple[float, float, float, float]:
        """Unclipped box ``(x1, y1, x2, y2)`` at ``frame_index``."""
        cx, cy = self.center(frame_index)
        return cx - self.width / 2, cy - self.height / 2, cx + self.width / 2, cy + self.height / 2


@lru_cache(maxsize=8)
def _background(width: int, height: int, seed: int) -> np.ndarray:
    """Static textured background: smooth muted blotches, a floor gradient and fine grain."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(70, 150, size=(9, 16, 3)).astype(np.float32)
    coarse = coarse * 0.5 + coarse.mean(axis=2, keepdims=True) * 0.5  # desaturate
    smooth = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    gradient = np.linspace(-15, 25, height, dtype=np.float32)[:, None, None]
    grain = rng.normal(0, 6, size=(height, width, 1)).astype(np.float32)
    image = np.clip(smooth + gradient + grain, 0, 255).astype(np.uint8)
    image.flags.writeable = False
    return image


def _shade(bgr: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(int(min(255, max(0, round(c * factor)))) for c in bgr)  # type: ignore[return-value]


def _draw_actor(image: np.ndarray, actor: Actor, box: tuple[float, float, float, float]) -> None:
    """Draw the figure filling ``box`` (clipping at the image border is left to OpenCV / slicing)."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    cx = (x1 + x2) / 2
    height, width = image.shape[:2]

    def fill(ax1: float, ay1: float, ax2: float, ay2: float, colour: tuple[int, int, int]) -> None:
        c1, r1 = max(0, round(ax1)), max(0, round(ay1))
        c2, r2 = min(width, round(ax2)), min(height, round(ay2))
        if c2 > c1 and r2 > r1:
            image[r1:r2, c1:c2] = colour

    torso_top, legs_top = y1 + _TORSO_TOP * h, y1 + _LEGS_TOP * h
    # Sleeves (a shade darker than the shirt), torso, a belt, two legs with a gap between them.
    fill(x1, torso_top + 0.03 * h, x1 + 0.14 * w, legs_top - 0.02 * h, _shade(actor.top_bgr, 0.75))
    fill(x2 - 0.14 * w, torso_top + 0.03 * h, x2, legs_top - 0.02 * h, _shade(actor.top_bgr, 0.75))
    fill(x1 + 0.14 * w, torso_top, x2 - 0.14 * w, legs_top, actor.top_bgr)
    fill(x1 + 0.14 * w, legs_top - 0.04 * h, x2 - 0.14 * w, legs_top, _shade(actor.top_bgr, 0.45))
    fill(x1 + 0.16 * w, legs_top, cx - 0.05 * w, y2, actor.bottom_bgr)
    fill(cx + 0.05 * w, legs_top, x2 - 0.16 * w, y2, actor.bottom_bgr)
    # Head: a skin-coloured disc touching the top of the box, with dark hair on top.
    radius = max(1, round(min(_TORSO_TOP * h / 2, 0.3 * w)))
    head_cy = round(y1 + _TORSO_TOP * h / 2)
    cv2.circle(image, (round(cx), head_cy), radius, SKIN_BGR, thickness=-1, lineType=cv2.LINE_AA)
    cv2.ellipse(
        image, (round(cx), head_cy), (radius, radius), 0, 180, 360, (30, 30, 40), thickness=-1, lineType=cv2.LINE_AA
    )


@dataclass(frozen=True)
class Scenario:
    """A synthetic scene: a static background and actors over a number of frames.

    Attributes:
        width: Frame width in pixels.
        height: Frame height in pixels.
        fps: Frame rate.
        num_frames: Number of frames.
        actors: The actors.
        background_seed: Seed of the background texture.
    """

    width: int
    height: int
    fps: float
    num_frames: int
    actors: tuple[Actor, ...]
    background_seed: int = 0

    def _present(self, frame_index: int) -> list[tuple[Actor, tuple[float, float, float, float]]]:
        """Actors in the scene whose box overlaps the picture, far to near (by centre y, then identity)."""
        present = []
        for actor in self.actors:
            if not actor.is_present(frame_index):
                continue
            x1, y1, x2, y2 = actor.box(frame_index)
            if min(x2, self.width) - max(x1, 0) < 1 or min(y2, self.height) - max(y1, 0) < 1:
                continue
            present.append((actor, (x1, y1, x2, y2)))
        present.sort(key=lambda item: ((item[1][1] + item[1][3]) / 2, item[0].identity))
        return present

    def render(self, frame_index: int) -> np.ndarray:
        """BGR uint8 image of frame ``frame_index``; nearer actors (larger centre y) drawn in front."""
        image = _background(self.width, self.height, self.background_seed).copy()
        for actor, box in self._present(frame_index):
            _draw_actor(image, actor, box)
        return image

    def boxes(self, frame_index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ground truth of frame ``frame_index``, far to near.

        Returns:
            ``xyxy`` float32 ``(N, 4)`` clipped to the frame, ``identity`` int64 ``(N,)``
            and ``visible_fraction`` float64 ``(N,)``: the share of each clipped box not
            covered by the boxes of actors drawn in front of it.
        """
        present = self._present(frame_index)
        xyxy = np.array([box for _, box in present], dtype=np.float64).reshape(-1, 4)
        xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, self.width)
        xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, self.height)
        identity = np.array([actor.identity for actor, _ in present], dtype=np.int64)
        visible = np.ones(len(present), dtype=np.float64)
        pixels = np.rint(xyxy).astype(np.int64)
        for i, (x1, y1, x2, y2) in enumerate(pixels):
            if x2 <= x1 or y2 <= y1:
                continue
            covered = np.zeros((y2 - y1, x2 - x1), dtype=bool)
            for fx1, fy1, fx2, fy2 in pixels[i + 1 :]:
                covered[max(fy1 - y1, 0) : max(fy2 - y1, 0), max(fx1 - x1, 0) : max(fx2 - x1, 0)] = True
            visible[i] = 1.0 - covered.mean()
        return xyxy.astype(np.float32), identity, visible

    def frames(self) -> Iterator[Frame]:
        """All frames as :class:`Frame` records (time = index / fps), without encoding."""
        for index in range(self.num_frames):
            yield Frame(index=index, time=index / self.fps, image=self.render(index))


def scenario_reentry_crossing(
    *, num_frames: int = 150, fps: float = 25.0, width: int = 640, height: int = 360
) -> Scenario:
    """Four actors that exercise re-identification, occlusion and static detection.

    - identity 0 (red shirt, blue trousers): walks out of the right edge, is away for
      about 2.3 s (at the defaults) and walks back in from the right;
    - identities 1 (green shirt) and 2 (yellow shirt): walk towards each other and cross
      mid-video; 1 is nearer (larger y) and hides 2 for several frames;
    - identity 3 (magenta shirt): stands still near the bottom right.

    Positions, sizes and times scale with ``width``, ``height`` and ``num_frames``.
    """
    last = num_frames - 1

    def at(fraction: float) -> int:
        return round(fraction * last)

    scale = height / 360
    w, h = round(44 * scale), round(100 * scale)
    exit_x = width + w  # fully outside the right edge
    walker_out = Actor(
        identity=0,
        top_bgr=(40, 40, 205),
        bottom_bgr=(130, 60, 20),
        width=w,
        height=h,
        keyframes=(
            (0, 0.55 * width, 0.25 * height),
            (at(0.27), exit_x, 0.25 * height),
            (at(0.63), exit_x, 0.25 * height),
            (last, 0.6 * width, 0.25 * height),
        ),  # fmt: skip
        visible=((0, at(0.27)), (at(0.63), num_frames)),
    )
    crossing_near = Actor(
        identity=1,
        top_bgr=(60, 175, 60),
        bottom_bgr=(35, 35, 35),
        width=w,
        height=h,
        keyframes=((0, 0.3 * width, 0.66 * height), (last, 0.7 * width, 0.66 * height)),
        visible=((0, num_frames),),
    )
    crossing_far = Actor(
        identity=2,
        top_bgr=(40, 210, 230),
        bottom_bgr=(140, 140, 140),
        width=w,
        height=h,
        keyframes=((0, 0.7 * width, 0.62 * height), (last, 0.3 * width, 0.62 * height)),
        visible=((0, num_frames),),
    )
    standing = Actor(
        identity=3,
        top_bgr=(180, 60, 180),
        bottom_bgr=(40, 80, 125),
        width=round(48 * scale),
        height=round(110 * scale),
        keyframes=((0, 0.9 * width, 0.82 * height),),
        visible=((0, num_frames),),
    )
    return Scenario(
        width=width,
        height=height,
        fps=fps,
        num_frames=num_frames,
        actors=(walker_out, crossing_near, crossing_far, standing),
    )


@lru_cache(maxsize=2)
def scenario_two_returns(*, num_frames: int = 150, fps: float = 25.0, width: int = 640, height: int = 360) -> Scenario:
    """Five actors for the decisions a user takes in the report (``streamreid apply``).

    - identities 0 (red) and 1 (green) each walk out of the right edge and come back after
      about 2.3 s: two merges that appearance makes on its own;
    - identity 2 (yellow) is seen only in the first third, identity 3 (magenta) only from
      60 % on: never on screen together, different clothes (a pair a user may merge or not);
    - identity 4 (grey) stands still throughout.
    """
    last, w, h = num_frames - 1, 44, 100

    def at(fraction: float) -> int:
        return round(fraction * last)

    def returner(identity: int, top: tuple[int, int, int], bottom: tuple[int, int, int], y: float, x: float) -> Actor:
        keyframes = ((0, x, y), (at(0.27), width + w, y), (at(0.63), width + w, y), (last, x + 40, y))
        return Actor(identity=identity, top_bgr=top, bottom_bgr=bottom, width=w, height=h, keyframes=keyframes,
                     visible=((0, at(0.27)), (at(0.63), num_frames)))  # fmt: skip

    early = Actor(identity=2, top_bgr=(40, 210, 230), bottom_bgr=(140, 140, 140), width=w, height=h,
                  keyframes=((0, 0.1 * width, 0.8 * height), (at(0.3), 0.3 * width, 0.8 * height)),
                  visible=((0, at(0.3)),))  # fmt: skip
    late = Actor(identity=3, top_bgr=(180, 60, 180), bottom_bgr=(40, 80, 125), width=48, height=110,
                 keyframes=((at(0.6), 0.2 * width, 0.82 * height), (last, 0.1 * width, 0.82 * height)),
                 visible=((at(0.6), num_frames),))  # fmt: skip
    still = Actor(identity=4, top_bgr=(200, 200, 200), bottom_bgr=(20, 20, 120), width=46, height=104,
                  keyframes=((0, 0.85 * width, 0.75 * height),), visible=((0, num_frames),))  # fmt: skip
    actors = (
        returner(0, (40, 40, 205), (130, 60, 20), 0.25 * height, 0.55 * width),
        returner(1, (60, 175, 60), (35, 35, 35), 0.55 * height, 0.45 * width),
        early, late, still,
    )  # fmt: skip
    return Scenario(width=width, height=height, fps=fps, num_frames=num_frames, actors=actors)


@dataclass(frozen=True)
class EditedScenario:
    """Pieces of scenarios played one after another with hard cuts between them (an edited video).

    Attributes:
        pieces: ``(scenario, start, stop)``: frames ``[start, stop)`` of each scenario, in playing order.
            The first scenario sets the size and frame rate; the others must have the same size.
        identity_step: Identities of the ``k``-th distinct scenario are shifted by ``k * identity_step``,
            so that people of two scenes never share an identity.
    """

    pieces: tuple[tuple[Scenario, int, int], ...]
    identity_step: int = 100

    @property
    def width(self) -> int:
        """Frame width of the first piece."""
        return self.pieces[0][0].width

    @property
    def height(self) -> int:
        """Frame height of the first piece."""
        return self.pieces[0][0].height

    @property
    def fps(self) -> float:
        """Frame rate of the first piece."""
        return self.pieces[0][0].fps

    @property
    def num_frames(self) -> int:
        """Frames of all the pieces."""
        return sum(stop - start for _, start, stop in self.pieces)

    @property
    def cuts(self) -> tuple[int, ...]:
        """First frame of every piece after the first."""
        starts = np.cumsum([stop - start for _, start, stop in self.pieces])
        return tuple(int(v) for v in starts[:-1])

    def scene_of(self, frame_index: int) -> int:
        """Which distinct scenario frame ``frame_index`` shows (0 for the first one named)."""
        scenario, _ = self._local(frame_index)
        return self._scenes().index(scenario)

    def _scenes(self) -> list[Scenario]:
        scenes: list[Scenario] = []
        for scenario, _, _ in self.pieces:
            if scenario not in scenes:
                scenes.append(scenario)
        return scenes

    def _local(self, frame_index: int) -> tuple[Scenario, int]:
        for scenario, start, stop in self.pieces:
            if frame_index < stop - start:
                return scenario, start + frame_index
            frame_index -= stop - start
        raise IndexError("frame index beyond the edited video")

    def render(self, frame_index: int) -> np.ndarray:
        """BGR image of frame ``frame_index``."""
        scenario, local = self._local(frame_index)
        return scenario.render(local)

    def boxes(self, frame_index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ground truth of frame ``frame_index`` (see :meth:`Scenario.boxes`), identities shifted per scene."""
        scenario, local = self._local(frame_index)
        xyxy, identity, visible = scenario.boxes(local)
        return xyxy, identity + self._scenes().index(scenario) * self.identity_step, visible

    def frames(self) -> Iterator[Frame]:
        """All frames as :class:`Frame` records (time = index / fps), without encoding."""
        for index in range(self.num_frames):
            yield Frame(index=index, time=index / self.fps, image=self.render(index))


def scenario_two_scenes_edited(
    *, piece: int = 40, fps: float = 25.0, width: int = 640, height: int = 360
) -> EditedScenario:
    """Scene A, a cut to scene B, a cut back to A: three people in each, standing where the other scene's stand.

    At each cut a person of the next shot stands (almost) where one of the last shot stood, so a
    tracker that is not told about the cut hands the track over and space-time grouping links the two.
    Scene B has another background and other clothes. Cuts at ``piece`` and ``2 * piece``.
    """
    places = ((0.25, 0.55), (0.5, 0.6), (0.75, 0.5))
    w, h = round(44 * height / 360), round(100 * height / 360)

    def scene(
        colours: tuple[tuple[tuple[int, int, int], tuple[int, int, int]], ...], seed: int, drift: float
    ) -> Scenario:
        actors = tuple(
            Actor(
                identity=i,
                top_bgr=top,
                bottom_bgr=bottom,
                width=w,
                height=h,
                keyframes=((0, x * width, y * height), (2 * piece, (x + drift) * width, y * height)),
                visible=((0, 2 * piece),),
            )  # fmt: skip
            for i, ((x, y), (top, bottom)) in enumerate(zip(places, colours, strict=True))
        )
        return Scenario(width=width, height=height, fps=fps, num_frames=2 * piece, actors=actors, background_seed=seed)

    a = scene(
        (((40, 40, 205), (130, 60, 20)), ((60, 175, 60), (35, 35, 35)), ((40, 210, 230), (140, 140, 140))), 0, 0.02
    )
    b = scene(
        (((200, 120, 40), (30, 30, 90)), ((180, 60, 180), (40, 80, 125)), ((230, 230, 230), (20, 90, 20))), 7, 0.0
    )
    return EditedScenario(pieces=((a, 0, piece), (b, piece // 2, piece // 2 + piece), (a, piece, 2 * piece)))


def write_video(
    scenario: Scenario | EditedScenario,
    path: Path,
    *,
    codec: str = "libx264",
    fps: float | None = None,
    faststart: bool = True,
) -> Path:
    """Encode every frame of ``scenario`` into ``path`` with PyAV.

    Args:
        scenario: What to render.
        path: Output file; the container follows the suffix (``.mp4``, ``.ts``, ``.mkv``, ...).
        codec: Video encoder name.
        fps: Frame rate to declare, default the scenario's.
        faststart: For ``.mp4``: put the moov index at the front (readable through a pipe).
            ``False`` leaves it at the end, as many cameras and editors do.

    Returns:
        ``path``.
    """
    path = Path(path)
    rate = Fraction(fps if fps is not None else scenario.fps).limit_denominator(1001)
    options = {"movflags": "+faststart"} if faststart and path.suffix.lower() in {".mp4", ".m4v", ".mov"} else {}
    with av.open(str(path), mode="w", options=options) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = scenario.width, scenario.height
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            # High quality (colours matter for re-identification), a keyframe every second.
            stream.options = {"preset": "veryfast", "crf": "16", "g": str(max(1, round(float(rate))))}
        for index in range(scenario.num_frames):
            frame = av.VideoFrame.from_ndarray(scenario.render(index), format="bgr24")
            frame.pts = index
            frame.time_base = 1 / rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@lru_cache(maxsize=2)
def scenario_crowd_handover(
    *, num_frames: int = 100, fps: float = 25.0, width: int = 640, height: int = 360
) -> Scenario:
    """A hand-over in a crowd: two people cross, one vanishes there, a stranger appears where they would be.

    - identity 0 (red shirt) walks right and, as 1 passes in front of them, leaves the scene (a doorway)
      at 41 % of the video;
    - identity 1 (green shirt, nearer) walks left, crosses 0 at 40 % and leaves the scene (another doorway)
      at 46 %;
    - identity 2 (yellow shirt), someone else, steps out 0.36 s after 0 left, a step (1.5 box widths) ahead
      of where 0 would have walked to, and walks on right at 0's pace, with 0's size.

    The tracker does not continue 0's track on 2 (their boxes do not overlap), but position and timing
    alone join 0 and 2 (the gap, distance, size and motion all fit). What says they may not is 1, near at
    the hand-over and never seen together with 2: as far as positions tell, 2 might be 1 turned round.
    Positions and times scale with the size and length.
    """
    last = num_frames - 1

    def at(fraction: float) -> int:
        return round(fraction * last)

    w, h = round(44 * height / 360), round(100 * height / 360)
    speed = 0.4 * width / at(0.4)  # pixels per frame, both walkers
    path = ((0, 0.1 * width, 0.6 * height), (last, 0.1 * width + speed * last, 0.6 * height))  # 0's, which 2 goes on
    leaving = Actor(identity=0, top_bgr=(40, 40, 205), bottom_bgr=(130, 60, 20), width=w, height=h,
                    keyframes=path, visible=((0, at(0.41)),))  # fmt: skip
    passing = Actor(identity=1, top_bgr=(60, 175, 60), bottom_bgr=(35, 35, 35), width=w, height=h,
                    keyframes=((0, 0.9 * width, 0.66 * height), (last, 0.9 * width - speed * last, 0.66 * height)),
                    visible=((0, at(0.46)),))  # fmt: skip
    ahead = tuple((frame, x + 1.5 * w, y) for frame, x, y in path)
    stranger = Actor(identity=2, top_bgr=(40, 210, 230), bottom_bgr=(140, 140, 140), width=w, height=h,
                     keyframes=ahead, visible=((at(0.41) + round(0.36 * fps), num_frames),))  # fmt: skip
    return Scenario(width=width, height=height, fps=fps, num_frames=num_frames, actors=(leaving, passing, stranger))


class ScriptedDetector:
    """Ground truth plus noise, standing in for the real person detector.

    Detections of actors less than ``min_visible`` visible are left out (a real
    detector misses people hidden behind others), others are dropped at random with
    ``drop_rate``; box corners get Gaussian jitter. The noise of a frame depends only
    on ``seed`` and the frame index, so runs with different strides agree.
    """

    def __init__(
        self,
        scenario: Scenario | EditedScenario,
        *,
        jitter_px: float = 1.5,
        drop_rate: float = 0.0,
        min_visible: float = 0.3,
        seed: int = 0,
        confidence: tuple[float, float] = (0.7, 0.95),
    ) -> None:
        if not 0.0 <= drop_rate <= 1.0:
            raise ValueError(f"drop_rate must be in [0, 1], got {drop_rate}")
        if jitter_px < 0:
            raise ValueError(f"jitter_px must be >= 0, got {jitter_px}")
        self.scenario = scenario
        self.jitter_px = jitter_px
        self.drop_rate = drop_rate
        self.min_visible = min_visible
        self.seed = seed
        self.confidence = confidence
        self.weights = ResolvedWeights(path=None, origin="scripted", detail="scripted ground-truth detector")
        self.device = "cpu"

    def detect(self, frame: Frame) -> sv.Detections:
        """Noisy ground-truth detections for one frame (``data["identity"]`` holds the truth)."""
        xyxy, identity, visible = self.scenario.boxes(frame.index)
        rng = np.random.default_rng([self.seed, frame.index])
        keep = (visible >= self.min_visible) & (rng.random(len(identity)) >= self.drop_rate)
        noise = rng.normal(0.0, self.jitter_px, size=xyxy.shape)
        low, high = self.confidence
        confidence = rng.uniform(low, high, size=len(identity))
        xyxy = xyxy[keep] + noise[keep]
        xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, frame.width)
        xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, frame.height)
        return sv.Detections(
            xyxy=xyxy.astype(np.float32),
            confidence=confidence[keep].astype(np.float32),
            class_id=np.zeros(int(keep.sum()), dtype=int),
            data={"identity": identity[keep]},
        )

    def iter_detections(
        self, frames: Iterable[Frame], *, detect_stride: int = 1
    ) -> Iterator[tuple[Frame, sv.Detections | None]]:
        """One ``(frame, detections)`` per frame, in order; ``None`` for frames the stride skips.

        The stride counts the frames received (the first is always detected), like the real detector.
        """
        if detect_stride < 1:
            raise ValueError(f"detect_stride must be >= 1, got {detect_stride}")
        for position, frame in enumerate(frames):
            yield frame, (self.detect(frame) if position % detect_stride == 0 else None)
