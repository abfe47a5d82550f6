"""Person features from Intel's Open Model Zoo re-identification networks, run by OpenVINO.

``person-reidentification-retail-0287`` and ``-0288`` (Apache-2.0) take one 256×128
BGR crop in 0–255 (the mean and scale are inside the network) and give a 256-d
feature. They are OpenVINO IR: an ``.xml`` graph and a ``.bin`` of weights.

Weights resolution follows the OSNet weights: an explicit file or folder → the cache
(``<cache>/reid/<model>/``) → a download from Intel's model storage, each file checked
against the SHA-256 pinned below → a clear error (``reid.embedder: auto`` never picks
these; you ask for them by name).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from streamreid.errors import WeightsError
from streamreid.weights import ResolvedWeights, cache_dir, download, sha256_of

OMZ_STORAGE = "https://storage.openvinotoolkit.org/repositories/open_model_zoo/2023.0/models_bin/1"
"""Intel's Open Model Zoo storage; a model's FP32 IR is at ``<this>/<name>/FP32/<name>.{xml,bin}``."""


@dataclass(frozen=True)
class OmzModel:
    """One Open Model Zoo ReID network and the digests of its FP32 IR files."""

    name: str
    xml_sha256: str
    bin_sha256: str
    about: str

    def url(self, suffix: str) -> str:
        """Download address of the ``.xml`` or ``.bin`` file."""
        return f"{OMZ_STORAGE}/{self.name}/FP32/{self.name}{suffix}"


OMZ_MODELS: dict[str, OmzModel] = {
    model.name: model
    for model in (
        OmzModel(
            name="person-reidentification-retail-0287",
            xml_sha256="09af746c1068a3e89355e1f0226d3d6982dc1cd77634b1f70a40f1f654a94be1",
            bin_sha256="7f53d18d11253455e0e11646b2176cf6509cc7c97cb5376f9b91b4c41e09a06c",
            about="OMZ person ReID (OSNet-like, 0.59 M parameters), 256-d",
        ),
        OmzModel(
            name="person-reidentification-retail-0288",
            xml_sha256="30f452b2ed2763f7bf429eea23f8f243ad0e7f3cdd7226db6888f1660efb3424",
            bin_sha256="6496b8d51741703c9e9c7f6474cb96c60de1856d7b4fd77235e48cea146066a5",
            about="OMZ person ReID (OSNet-like, 0.18 M parameters), 256-d",
        ),
    )
}
OMZ_ALIASES = {"omz-0287": "person-reidentification-retail-0287", "omz-0288": "person-reidentification-retail-0288"}
"""Short names accepted as ``reid.embedder``."""


def resolve_omz_weights(
    name: str, weights: str | Path | None = None, *, allow_download: bool = True
) -> ResolvedWeights:
    """Find the ``.xml`` of an Open Model Zoo ReID model (its ``.bin`` beside it).

    Args:
        name: Model name or alias (``omz-0288``).
        weights: An ``.xml`` file or a folder holding ``<name>.xml``; ``None`` = cache, then download.
        allow_download: May fetch from Intel's storage when not cached.

    Raises:
        WeightsError: Unknown model, missing files, a checksum mismatch, or a failed download.
    """
    model = OMZ_MODELS.get(OMZ_ALIASES.get(name, name))
    if model is None:
        raise WeightsError(f"unknown Open Model Zoo ReID model {name!r}; known: {', '.join(OMZ_MODELS)}")
    if weights is not None:
        path = Path(weights).expanduser()
        xml = path / f"{model.name}.xml" if path.is_dir() else path
        if not xml.is_file() or not xml.with_suffix(".bin").is_file():
            raise WeightsError(f"{model.name}: no {xml.name} with its .bin at {path}")
        return ResolvedWeights(path=xml, origin="explicit", detail=f"{model.name} IR given by the user: {xml}")
    folder = cache_dir() / "reid" / model.name
    xml, weights_bin = folder / f"{model.name}.xml", folder / f"{model.name}.bin"
    if xml.is_file() and weights_bin.is_file():
        if sha256_of(xml) != model.xml_sha256 or sha256_of(weights_bin) != model.bin_sha256:
            raise WeightsError(
                f"{model.name} in {folder} does not match the pinned checksums; delete it to fetch again"
            )
        return ResolvedWeights(path=xml, origin="cache", detail=f"{model.name} IR from the cache ({folder})",
                               sha256=model.bin_sha256)  # fmt: skip
    if not allow_download:
        raise WeightsError(f"{model.name} is not in {folder} and downloads are off; pass reid.weights PATH")
    for suffix, digest in ((".xml", model.xml_sha256), (".bin", model.bin_sha256)):
        download(model.url(suffix), folder / f"{model.name}{suffix}", sha256=digest)
    return ResolvedWeights(path=xml, origin="download", detail=f"{model.name} IR downloaded from {OMZ_STORAGE}",
                           sha256=model.bin_sha256)  # fmt: skip


def takes_uint8_crops(
    network: Any, *, to_rgb: bool = False, mean: Sequence[float] | None = None, scale: Sequence[float] | None = None
) -> Any:
    """``network`` (NCHW float input) made to take ``(N, H, W, 3)`` uint8 BGR crops as they come.

    The conversion (to float, to RGB, minus ``mean``, divided by ``scale``, to NCHW) becomes part
    of the network, which OpenVINO fuses and runs on every core: done in NumPy on float32 copies
    it took 40 % of OSNet x0.25's time per crop (1.7 → 1.0 ms on 2 cores).

    Args:
        network: An ``openvino.Model`` with one NCHW image input.
        to_rgb: The network wants RGB.
        mean: Per-channel values to subtract (in the network's channel order, 0–255 units).
        scale: Per-channel values to divide by.
    """
    import openvino as ov
    from openvino.preprocess import ColorFormat, PrePostProcessor

    steps = PrePostProcessor(network)
    tensor = steps.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    steps.input().model().set_layout(ov.Layout("NCHW"))
    convert = steps.input().preprocess().convert_element_type(ov.Type.f32)
    if to_rgb:
        tensor.set_color_format(ColorFormat.BGR)
        convert.convert_color(ColorFormat.RGB)
    if mean is not None:
        convert.mean(list(mean))
    if scale is not None:
        convert.scale(list(scale))
    return steps.build()


class OmzReidEmbedder:
    """Features from an Open Model Zoo person ReID network (256-d), run by OpenVINO on the CPU.

    Args:
        model: Model name or alias (``omz-0287``, ``omz-0288``).
        weights: The ``.xml`` or its folder; ``None`` = cache, then download.
        allow_download: May fetch from Intel's storage.
        batch_size: Crops per inference call.
    """

    kind = "omz"
    uses_every_core = True  # OpenVINO on the CPU: a thread per core (streamreid.reid.embed.leaves_cores_free)

    def __init__(self, *, model: str = "omz-0288", weights: str | Path | None = None, allow_download: bool = True,
                 batch_size: int = 64) -> None:  # fmt: skip
        import openvino as ov

        self.weights = resolve_omz_weights(model, weights, allow_download=allow_download)
        name = OMZ_ALIASES.get(model, model)
        core = ov.Core()
        network = core.read_model(str(self.weights.path))
        network.reshape({network.inputs[0]: ov.PartialShape([-1, 3, 256, 128])})
        self._compiled = core.compile_model(takes_uint8_crops(network), "CPU")  # BGR 0-255: scaling is inside
        self.batch_size = int(batch_size)
        self.device = "cpu"
        self.dim = int(self._compiled.outputs[0].get_partial_shape()[-1].get_length())
        self.name = f"{name} (OpenVINO)"

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """``(N, H, W, 3)`` uint8 BGR crops → ``(N, dim)`` float32 unit rows."""
        import cv2

        crops = np.asarray(crops)
        if len(crops) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        if crops.shape[1:3] != (256, 128):
            crops = np.stack([cv2.resize(c, (128, 256), interpolation=cv2.INTER_AREA) for c in crops])
        parts = []
        for start in range(0, len(crops), self.batch_size):
            batch = np.ascontiguousarray(crops[start : start + self.batch_size], np.uint8)
            parts.append(np.asarray(self._compiled(batch)[0], dtype=np.float64).reshape(len(batch), -1))
        features = np.concatenate(parts)
        norms = np.linalg.norm(features, axis=1, keepdims=True)
        return (features / np.where(norms > 0, norms, 1.0)).astype(np.float32)
