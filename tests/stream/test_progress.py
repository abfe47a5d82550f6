"""The progress bar's total (max_frames and stride counted) and its frame count."""

import pytest

from streamreid.config import SourceConfig
from streamreid.stream.progress import ProgressBar, expected_frames
from streamreid.types import VideoInfo


@pytest.mark.parametrize(
    ("frame_count", "max_frames", "stride", "expected"),
    [(100, None, 1, 100), (100, 30, 1, 30), (100, None, 3, 34), (100, 31, 2, 16), (None, 10, 1, None)],
)
def test_expected_frames_counts_max_frames_then_the_stride(frame_count, max_frames, stride, expected):
    info = VideoInfo(source="v.mp4", width=64, height=48, frame_count=frame_count)
    assert expected_frames(info, SourceConfig(max_frames=max_frames, stride=stride)) == expected


def test_an_enabled_bar_counts_every_frame_and_shows_the_video_time():
    with ProgressBar(enabled=True, total=5) as bar:
        for index in range(3):
            bar.advance(index * 0.5)
        task = bar._progress.tasks[0]
        assert (task.completed, task.total, task.fields["video"]) == (3, 5, 1.0)
    assert bar._count == 3


def test_a_disabled_bar_draws_nothing(capsys):
    with ProgressBar(enabled=False, total=5) as bar:
        bar.advance(1.0)
    assert bar._progress is None and bar._count == 0
    assert capsys.readouterr().err == ""
