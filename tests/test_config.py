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
        ("detector:\n  imgsz: big\n", "config key 'detector.imgsz' must be int"),
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
