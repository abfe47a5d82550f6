"""A decoded 4:2:0 frame kept in its planes: the detector's picture made small, BGR regions at full size on demand.

A 1080p frame turned into BGR costs ~6 ms and 6 MB before the detector shrinks it to its input
size again, and most of its pixels are never looked at after that: crops and their quality need
only the boxes. :class:`YuvPicture` keeps the decoder's Y, U and V planes (no copy) and makes

* :meth:`YuvPicture.scaled`: the whole picture at the detector's input size, scaled in YUV and
  converted once, at the small size (what ``Frame.image`` holds then);
* ``picture[y1:y2, x1:x2]``: a BGR region at the source's full size, converted alone, so its cost
  follows the box's area, not the frame's;
* :meth:`YuvPicture.resized` and :meth:`YuvPicture.grey_resized`: a region shrunk (area) to a crop's
  or a sharpness patch's size, its planes resized first and converted at the small size (what crops
  and their sharpness read, through ``Frame.pixels``: :func:`resized_region`, :func:`grey_region`).

The colour matrix (BT.601, BT.709, ...) and range (limited or full) are the frame's own, as
FFmpeg's conversion uses them; chroma is taken from the nearest sample, as FFmpeg's unscaled
conversion does. Pixels agree with FFmpeg's ``bgr24`` within 2 levels (its fixed-point tables).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from streamreid.types import Frame

if TYPE_CHECKING:
    import supervision as sv

#: (Kr, Kb) of each colour matrix, by FFmpeg's colorspace number; others (and unspecified) are BT.601's.
_MATRICES = {1: (0.2126, 0.0722), 4: (0.30, 0.11), 7: (0.212, 0.087), 9: (0.2627, 0.0593), 10: (0.2627, 0.0593)}
_BT601 = (0.299, 0.114)
#: FFmpeg's colour range number of full-range ("JPEG") video.
_FULL_RANGE = 2
#: How much darker FFmpeg's ``bgr24`` comes out than exact rounding, on average (levels).
_FFMPEG_LEVEL = 1.0
#: OpenCV's ``COLOR_BGR2GRAY`` weights of B, G and R.
_GREY_WEIGHTS = np.array([0.114, 0.587, 0.299], dtype=np.float32)
#: Pixel formats kept in planes; every other format is turned into BGR whole, as before.
PLANAR_420 = {"yuv420p": False, "yuvj420p": True}  # name -> full range by the format itself


def yuv_to_bgr_matrix(colorspace: int, *, full_range: bool) -> np.ndarray:
    """The 3x4 affine map from ``(Y, U, V)`` levels to ``(B, G, R)`` levels (0-255) of one colour matrix and range."""
    kr, kb = _MATRICES.get(int(colorspace), _BT601)
    kg = 1.0 - kr - kb
    luma, chroma, black = (255.0, 255.0, 0.0) if full_range else (219.0, 224.0, 16.0)
    y = 255.0 / luma
    cb, cr = 255.0 / chroma, 255.0 / chroma
    rows = np.array(
        [
            [y, 2 * (1 - kb) * cb, 0.0],  # B
            [y, -2 * kb * (1 - kb) / kg * cb, -2 * kr * (1 - kr) / kg * cr],  # G
            [y, 0.0, 2 * (1 - kr) * cr],  # R
        ]
    )
    # FFmpeg's fast fixed-point conversion comes out a level darker on average than exact rounding: taking the
    # same level off keeps pixels within 2 levels of its bgr24 (mean difference ~0.3 rather than ~1.1)
    offset = -rows @ np.array([black, 128.0, 128.0]) - _FFMPEG_LEVEL
    return np.hstack([rows, offset[:, None]]).astype(np.float32)


class YuvPicture:
    """One decoded 4:2:0 frame in its planes, indexed like a BGR ``(height, width, 3)`` uint8 array.

    Only plain 2-D slices are supported (``picture[y1:y2, x1:x2]``), which is how crops read it;
    ``np.asarray(picture)`` converts it whole.

    Args:
        y: The luma plane, ``(height, width)`` uint8.
        u: The Cb plane, ``(ceil(height / 2), ceil(width / 2))`` uint8.
        v: The Cr plane, same shape as ``u``.
        matrix: :func:`yuv_to_bgr_matrix` of the frame.
    """

    ndim = 3
    dtype = np.dtype(np.uint8)

    def __init__(self, y: np.ndarray, u: np.ndarray, v: np.ndarray, *, matrix: np.ndarray) -> None:
        height, width = y.shape
        chroma = ((height + 1) // 2, (width + 1) // 2)
        if u.shape != chroma or v.shape != chroma:
            raise ValueError(f"chroma planes {u.shape}, {v.shape} do not fit a {width}x{height} luma plane")
        self.y, self.u, self.v, self.matrix = y, u, v, matrix
        self.shape = (height, width, 3)

    @classmethod
    def of(cls, av_frame: Any) -> YuvPicture | None:
        """The planes of a decoded PyAV frame without copying them, or ``None`` when it is not 4:2:0 8-bit."""
        full_range = PLANAR_420.get(av_frame.format.name)
        if full_range is None:
            return None
        planes = []
        for plane in av_frame.planes:
            rows = np.frombuffer(plane, dtype=np.uint8).reshape(plane.height, plane.line_size)
            planes.append(rows[:, : plane.width])
        full_range = full_range or int(getattr(av_frame, "color_range", 0)) == _FULL_RANGE
        matrix = yuv_to_bgr_matrix(int(getattr(av_frame, "colorspace", 2)), full_range=full_range)
        return cls(*planes, matrix=matrix)

    def __getitem__(self, key: Any) -> np.ndarray:
        rows, columns = _two_slices(key)
        height, width = self.shape[:2]
        y1, y2, _ = rows.indices(height)
        x1, x2, _ = columns.indices(width)
        if y2 <= y1 or x2 <= x1:
            return np.zeros((max(0, y2 - y1), max(0, x2 - x1), 3), dtype=np.uint8)
        chroma_rows = np.arange(y1, y2) // 2
        chroma_columns = np.arange(x1, x2) // 2
        c1, c2 = x1 // 2, (x2 - 1) // 2 + 1
        u = self.u[chroma_rows, c1:c2][:, chroma_columns - c1]
        v = self.v[chroma_rows, c1:c2][:, chroma_columns - c1]
        return self._convert(self.y[y1:y2, x1:x2], u, v)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        image = self[:, :]
        return image if dtype is None else image.astype(dtype)

    def resized(self, rows: slice, columns: slice, *, width: int, height: int) -> np.ndarray:
        """A BGR region at ``width`` x ``height`` (area), as ``cv2.resize(picture[rows, columns])`` within rounding.

        The region's planes are area-resized first and converted once, at the small size: the cost follows the
        region's luma pixels (one channel), not three channels of converted pixels. The conversion is affine and
        area resizing is linear, so only rounding differs (and chroma whose region starts or ends on an odd pixel,
        taken whole here: under a pixel of shift).
        """
        y, u, v = self._region_planes(rows, columns, width=width, height=height)
        return self._convert(y, u, v)

    def grey_resized(self, rows: slice, columns: slice, *, width: int, height: int) -> np.ndarray:
        """The region as OpenCV's grey of its BGR (``COLOR_BGR2GRAY``), area-resized: ``(height, width)`` float32.

        As :meth:`resized` followed by ``cv2.cvtColor(..., COLOR_BGR2GRAY)``, without the rounding to uint8 in
        between: grey is an affine map of ``(Y, U, V)`` (the BGR rows weighted by OpenCV's grey weights).
        """
        weights = _GREY_WEIGHTS @ self.matrix  # grey = a Y + b U + c V + d
        with_chroma = bool(np.abs(weights[1:3]).max() > 1e-6)  # BT.601's grey is its luma: no chroma to resize
        y, u, v = self._region_planes(rows, columns, width=width, height=height, chroma=with_chroma)
        grey = y.astype(np.float32) * weights[0] + float(weights[3])
        if with_chroma:
            grey += u.astype(np.float32) * weights[1] + v.astype(np.float32) * weights[2]
        return grey

    @property
    def luma_to_grey(self) -> tuple[float, float]:
        """``(gain, offset)`` from luma levels to OpenCV's grey of the BGR picture, chroma left out (BT.601: exact)."""
        weights = _GREY_WEIGHTS @ self.matrix
        return float(weights[0]), float(weights[3])

    def _region_planes(
        self, rows: slice, columns: slice, *, width: int, height: int, chroma: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """The Y, U and V planes of a region, each area-resized to ``width`` x ``height`` (no chroma: U, V ``None``)."""
        y1, y2, _ = rows.indices(self.shape[0])
        x1, x2, _ = columns.indices(self.shape[1])
        if y2 <= y1 or x2 <= x1:
            raise ValueError(f"empty region {y1}:{y2}, {x1}:{x2}")
        size = (int(width), int(height))
        chroma_rows, chroma_columns = slice(y1 // 2, (y2 + 1) // 2), slice(x1 // 2, (x2 + 1) // 2)
        luma = cv2.resize(self.y[y1:y2, x1:x2], size, interpolation=cv2.INTER_AREA)
        if not chroma:
            return luma, None, None
        return (
            luma,
            cv2.resize(self.u[chroma_rows, chroma_columns], size, interpolation=cv2.INTER_AREA),
            cv2.resize(self.v[chroma_rows, chroma_columns], size, interpolation=cv2.INTER_AREA),
        )

    def scaled(self, width: int, height: int) -> np.ndarray:
        """The whole picture as BGR at ``width`` x ``height`` (bilinear, like the detector's own letterbox)."""
        size = (int(width), int(height))
        y = cv2.resize(self.y, size, interpolation=cv2.INTER_LINEAR)
        u = cv2.resize(self.u, size, interpolation=cv2.INTER_LINEAR)
        v = cv2.resize(self.v, size, interpolation=cv2.INTER_LINEAR)
        return self._convert(y, u, v)

    def _convert(self, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return cv2.transform(cv2.merge([np.ascontiguousarray(p) for p in (y, u, v)]), self.matrix)


class ScaledFrame(Frame):
    """A frame kept in its planes whose ``image``, the picture at the detector's size, is made on first use.

    The decoder makes it ahead (``image`` given) for the frames the detector will take; the others (skipped by
    the detection stride) make it only when something asks, which at the defaults is the scene's few samples:
    shot cuts read the luma plane, crops the planes. Two threads asking at once may both make it (same pixels).

    Args:
        index: As :class:`~streamreid.types.Frame`.
        time: As :class:`~streamreid.types.Frame`.
        full: The decoded planes.
        size: ``(width, height)`` of ``image``.
        image: The picture at ``size`` where already made, else ``None``.
    """

    def __init__(
        self, *, index: int, time: float, full: YuvPicture, size: tuple[int, int], image: np.ndarray | None = None
    ) -> None:
        object.__setattr__(self, "size", (int(size[0]), int(size[1])))
        super().__init__(index=index, time=time, image=image, full=full)

    @property
    def image(self) -> np.ndarray:
        """The picture at :attr:`size`, BGR uint8 (made now where it was not yet)."""
        image = self.__dict__.get("_image")
        if image is None:
            image = self.full.scaled(*self.size)
            object.__setattr__(self, "_image", image)
        return image

    @image.setter
    def image(self, value: np.ndarray | None) -> None:  # only the dataclass's __init__ sets it
        object.__setattr__(self, "_image", value)

    @property
    def made(self) -> bool:
        """Whether :attr:`image` exists yet."""
        return self.__dict__.get("_image") is not None

    @property
    def image_scale(self) -> tuple[float, float]:
        """``(x, y)`` factors from ``image``'s pixels to the source's (without making ``image``)."""
        return self.width / self.size[0], self.height / self.size[1]

    def __repr__(self) -> str:
        return f"ScaledFrame(index={self.index}, time={self.time}, size={self.size}, made={self.made})"


def _two_slices(key: Any) -> tuple[slice, slice]:
    if not isinstance(key, tuple):
        key = (key,)
    if len(key) == 1:
        key = (key[0], slice(None))
    if len(key) != 2 or not all(isinstance(k, slice) and k.step in (None, 1) for k in key):
        raise TypeError(f"a YuvPicture takes two plain slices (picture[y1:y2, x1:x2]), got {key!r}")
    return key[0], key[1]


def detector_size(frame_shape: tuple[int, int], input_shape: tuple[int, int] | None) -> tuple[int, int] | None:
    """``(width, height)`` to decode a ``frame_shape`` frame to for a detector that shrinks it to ``input_shape``.

    Both shapes are ``(height, width)``. ``None`` where the detector would not shrink the frame (it keeps or
    enlarges it: decoding smaller would lose pixels). The size is rounded up to even numbers (4:2:0 planes).
    """
    if input_shape is None:
        return None
    height, width = frame_shape
    small_height, small_width = (int(v) + int(v) % 2 for v in input_shape)
    if small_height >= height or small_width >= width:
        return None
    return small_width, small_height


def in_frame_pixels(
    detected: Iterator[tuple[Frame, sv.Detections | None]],
) -> Iterator[tuple[Frame, sv.Detections | None]]:
    """Pass the detector's output on with boxes in the source's pixels (scaled up where ``image`` was scaled down)."""
    try:
        for frame, detections in detected:
            if detections is not None and frame.full is not None and len(detections):
                scale_x, scale_y = frame.image_scale
                detections.xyxy = detections.xyxy * np.array([scale_x, scale_y, scale_x, scale_y], dtype=np.float32)
            yield frame, detections
    finally:
        close = getattr(detected, "close", None)
        if close is not None:
            close()


def resized_region(pixels: Any, rows: slice, columns: slice, *, width: int, height: int) -> np.ndarray:
    """``pixels[rows, columns]`` area-resized to ``width`` x ``height`` BGR uint8 (a frame's array or a YuvPicture)."""
    if isinstance(pixels, YuvPicture):
        return pixels.resized(rows, columns, width=width, height=height)
    return cv2.resize(pixels[rows, columns], (int(width), int(height)), interpolation=cv2.INTER_AREA)


def grey_region(pixels: Any, rows: slice, columns: slice, *, width: int, height: int) -> np.ndarray:
    """``pixels[rows, columns]`` area-resized to ``width`` x ``height``, in OpenCV's grey (uint8 or float32)."""
    if isinstance(pixels, YuvPicture):
        return pixels.grey_resized(rows, columns, width=width, height=height)
    patch = cv2.resize(pixels[rows, columns], (int(width), int(height)), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY) if patch.ndim == 3 else patch
