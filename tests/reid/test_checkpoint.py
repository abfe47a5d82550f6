"""torchreid checkpoints loaded safely into a small stand-in network: prefixes, classifiers, refusals in one line."""

import argparse

import pytest
import torch

from streamreid.errors import WeightsError
from streamreid.reid.checkpoint import CheckpointReport, load_reid_checkpoint


class _Net(torch.nn.Module):
    """Feature layers and an identity classifier, as torchreid's networks have."""

    def __init__(self, identities=4):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 2, 1)
        self.bn = torch.nn.BatchNorm2d(2)
        self.classifier = torch.nn.Linear(2, identities)


def _save(tmp_path, data, name="w.pth"):
    path = tmp_path / name
    torch.save(data, path)
    return path


def test_a_dataparallel_checkpoint_with_another_classifier_loads_the_features(tmp_path):
    source = _Net(identities=10)
    torch.nn.init.constant_(source.conv.weight, 0.5)
    state = {f"module.{k}": v for k, v in source.state_dict().items()}
    path = _save(tmp_path, {"state_dict": state, "epoch": 60, "extra.weight": torch.zeros(1)})
    target = _Net(identities=4)
    report = load_reid_checkpoint(target, path)
    assert torch.equal(target.conv.weight, torch.full_like(target.conv.weight, 0.5))
    assert set(report.dropped) == {"classifier.weight", "classifier.bias"}
    assert set(report.missing) == {"classifier.weight", "classifier.bias"}
    assert report.loaded == len(state) - 2
    assert report.summary().startswith(f"{report.loaded} tensors loaded, 2 dropped for shape (classifier.")


def test_weights_of_another_architecture_are_refused(tmp_path):
    wrong = {k: v for k, v in _Net().state_dict().items() if not k.startswith("bn.")}
    with pytest.raises(WeightsError, match="feature tensors are missing"):
        load_reid_checkpoint(_Net(), _save(tmp_path, wrong))
    resized = {**_Net().state_dict(), "conv.weight": torch.zeros(5, 3, 1, 1)}
    with pytest.raises(WeightsError, match=r"conv.weight has shape \(5, 3, 1, 1\), the model expects \(2, 3, 1, 1\)"):
        load_reid_checkpoint(_Net(), _save(tmp_path, resized))


def test_a_file_that_needs_full_unpickling_is_refused_unless_trusted(tmp_path):
    path = _save(tmp_path, {"state_dict": _Net().state_dict(), "args": argparse.Namespace(lr=0.1)})
    with pytest.raises(WeightsError, match="needs full unpickling .* reid.trust_checkpoint: true"):
        load_reid_checkpoint(_Net(), path)
    assert load_reid_checkpoint(_Net(), path, trust=True).missing == ()


@pytest.mark.parametrize(
    ("content", "words"), [(b"not a checkpoint", "is not a PyTorch checkpoint"), (None, "cannot read")]
)
def test_what_is_not_a_checkpoint_is_one_line(tmp_path, content, words):
    path = tmp_path / "w.pth"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(WeightsError, match=words):
        load_reid_checkpoint(_Net(), path)


def test_a_file_without_tensors_is_refused(tmp_path):
    with pytest.raises(WeightsError, match="holds no state dict"):
        load_reid_checkpoint(_Net(), _save(tmp_path, {"epoch": 3}))


def test_summary_lists_what_did_not_load():
    report = CheckpointReport(loaded=3, missing=("bn.num_batches_tracked",), unexpected=("a", "b"), dropped=())
    assert report.summary() == "3 tensors loaded, 1 missing (bn.num_batches_tracked), 2 unexpected (a, b)"
