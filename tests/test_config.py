from pathlib import Path

import pytest

from streamreid.config import Config, ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]


def test_default_yaml_documents_exactly_the_builtin_defaults():
    assert load_config(ROOT / "configs" / "default.yaml") == Config()


def test_every_default_key_appears_in_the_yaml():
    import yaml

    documented = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())

    def keys(tree, prefix=""):
        for key, value in tree.items():
            if isinstance(value, dict):
                yield from keys(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}"

    assert set(keys(documented)) == set(keys(Config().to_dict()))


def test_partial_yaml_and_cli_overrides(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("detector:\n  imgsz: 416\nreid:\n  threshold: 0.8\n")
    config = load_config(path, {"detector.imgsz": 320, "reid.weights": None, "source.max_frames": 10})
    assert config.detector.imgsz == 320
    assert config.reid.threshold == 0.8
    assert config.source.max_frames == 10
    assert config.reid.weights is None
    assert config.grouping == Config().grouping


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("detector:\n  imgsize: 416\n", "unknown config key 'detector.imgsize'"),
        ("detector: [1, 2]\n", "config section 'detector' must be a mapping"),
        ("detector:\n  imgsz: big\n", "config key 'detector.imgsz' must be auto or an int, got 'big'"),
        ("detector:\n  imgsz: 16\n", "config key 'detector.imgsz' must be >= 32"),
        ("detector:\n  detect_stride: 0\n", "config key 'detector.detect_stride' must be >= 1"),
        ("detector:\n  imgsz_candidates: [640, 8]\n", "config key 'detector.imgsz_candidates' must be sizes >= 32"),
        ("reid:\n  enabled: 3\n", "config key 'reid.enabled' must be true or false"),
        ("grouping:\n  area_ratio_range: 0.5\n", "config key 'grouping.area_ratio_range' must be a list"),
        ("detector: {imgsz: [", "is not valid YAML"),
    ],
)
def test_bad_config_gives_one_line_error(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")) as info:
        load_config(path)
    assert "\n" not in str(info.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"reid.method": "mean_embeding"}, "config key 'reid.method' must be one of mean_embedding, "),
        ({"grouping.spatial_mode": "predict"}, "config key 'grouping.spatial_mode' must be one of "),
        ({"detector.runtime": "tensorrt"}, "config key 'detector.runtime' must be one of "),
        ({"detector.confidence": 1.5}, "config key 'detector.confidence' must be between 0 and 1, got 1.5"),
        ({"source.stride": 0}, "config key 'source.stride' must be >= 1, got 0"),
        ({"source.reconnect_attempts": -2}, "config key 'source.reconnect_attempts' must be >= -1"),
        ({"reid.null_percentile": 120.0}, "config key 'reid.null_percentile' must be between 0 and 100"),
        ({"crops.quality.sharpness": -1.0}, "config key 'crops.quality.sharpness' must be >= 0"),
        ({"grouping.area_ratio_range": [1.3, 0.7]}, "config key 'grouping.area_ratio_range' must be"),
        ({"reid.near_threshold": 0.9}, "config key 'reid.near_threshold' \\(0.9\\) must not exceed"),
        ({"reid.threshold": float("nan")}, "config key 'reid.threshold' must be between -1 and 1, got nan"),
    ],
)
def test_values_are_checked_when_loading_with_one_line_naming_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_config(None, overrides)
    assert "\n" not in str(info.value)


def test_a_typo_fails_before_the_first_frame(tmp_path, monkeypatch):
    """A config built in code (not loaded) is checked by process() before the source is even opened."""
    import streamreid.pipeline as pipeline

    def no_source(*args, **kwargs):
        raise AssertionError("the source was opened before the config was checked")

    monkeypatch.setattr(pipeline, "open_source", no_source)
    config = Config().with_overrides({"reid.merge_linkage": "avg"})
    with pytest.raises(ConfigError, match="config key 'reid.merge_linkage' must be one of average, single, complete"):
        pipeline.process("video.mp4", out_dir=tmp_path / "run", config=config, progress=False)
    assert not (tmp_path / "run").exists()


def test_every_rule_names_a_key_of_the_config_and_choices_match_their_modules():
    from streamreid.config import CHOICES, RANGES, _lookup
    from streamreid.decide import merging, reid_stage, similarity
    from streamreid.detect import detector as detect
    from streamreid.persons import gap_fill, pair_checks

    stale = [key for key in [*CHOICES, *RANGES] if not _lookup(Config(), key)[0]]
    assert stale == [], "rules for keys the config no longer has: update CHOICES/RANGES in config.py"
    assert CHOICES["detector.runtime"] == ("auto", *detect.RUNTIMES)  # auto: streamreid.detect.runtimes picks one
    assert CHOICES["detector.precision"] == detect.PRECISIONS
    assert CHOICES["grouping.spatial_mode"] == pair_checks.SPATIAL_MODES
    assert CHOICES["grouping.fill_person_gaps"] == gap_fill.FILL_MODES
    assert CHOICES["reid.method"] == similarity.SIMILARITY_METHODS
    assert CHOICES["reid.merge_linkage"] == merging.LINKAGES
    assert CHOICES["reid.decision"] == reid_stage.DECISION_RULES


def _text_keys(node: object, prefix: str = "") -> list[str]:
    """Every key of the config whose type admits text, dotted."""
    import dataclasses
    import typing

    keys = []
    for field in dataclasses.fields(node):
        value, key = getattr(node, field.name), f"{prefix}{field.name}"
        if dataclasses.is_dataclass(value):
            keys += _text_keys(value, f"{key}.")
        elif str in (typing.get_args(typing.get_type_hints(type(node))[field.name]) or
                     (typing.get_type_hints(type(node))[field.name],)):  # fmt: skip
            keys.append(key)
    return keys


def test_every_text_key_is_checked_before_the_first_frame():
    """Issue 20.11: a key with a closed set of values is in CHOICES (or is a device); the rest are named open."""
    from streamreid.config import CHOICES, DEVICE_KEYS, OPEN_KEYS

    unchecked = [k for k in _text_keys(Config()) if k not in {*CHOICES, *DEVICE_KEYS, *OPEN_KEYS}]
    assert unchecked == []


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [("reid.decision", "calibratd", "calibrated, fixed"), ("detector.device", "cdua", "auto, cpu, cuda"),
     ("reid.device", "gpu", "auto, cpu, cuda")],
)  # fmt: skip
def test_a_typo_in_a_closed_key_is_one_line_naming_the_key_and_the_values(key, value, allowed):
    with pytest.raises(ConfigError) as error:
        load_config(None, {key: value})
    message = str(error.value)
    assert key in message and allowed in message and repr(value) in message and "\n" not in message


def test_every_device_form_passes():
    for device in ("auto", "cpu", "CUDA", "cuda:1", "0", "mps"):
        assert load_config(None, {"detector.device": device, "reid.device": device}).reid.device == device


def test_every_embedder_the_builder_knows_passes_validation_and_the_cli():
    from streamreid.cli_parser import build_parser
    from streamreid.config import CHOICES
    from streamreid.reid.omz import OMZ_ALIASES

    assert set(OMZ_ALIASES) <= set(CHOICES["reid.embedder"])
    for embedder in CHOICES["reid.embedder"]:
        assert load_config(None, {"reid.embedder": embedder}).reid.embedder == embedder
        assert build_parser().parse_args(["report", "RUN", "--embedder", embedder]).embedder == embedder
    with pytest.raises(ConfigError, match="reid.embedder"):
        load_config(None, {"reid.embedder": "omz-9999"})
