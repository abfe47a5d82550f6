"""What run.json says about the stream: final status, notes, counts; the stage clock and the expected frames."""

import dataclasses
import time

import pytest

from streamreid.config import SourceConfig
from streamreid.run.run_record import StreamSummary, final_status, stream_notes
from streamreid.run.timings import StageClock, iter_timed_frames
from streamreid.stream.progress import expected_frames
from streamreid.types import VideoInfo


@pytest.mark.parametrize(
    ("status", "end_reason", "expected"),
    [
        ("complete", "end", "complete"),
        ("complete", "read_error", "complete"),  # a damaged file: what could be read is complete
        ("complete", "gave_up", "interrupted"),  # a live source that did not come back
        ("interrupted", "closed", "interrupted"),
    ],
)
def test_final_status(status, end_reason, expected):
    assert final_status(status, end_reason) == expected


def test_stream_notes_name_the_frame_where_it_stopped():
    assert stream_notes("end", 10) == [] and stream_notes("max_frames", 10) == []
    assert "after 42 frames" in stream_notes("gave_up", 42)[0]
    assert "past frame 42" in stream_notes("read_error", 42)[0]


def test_stream_summary_record_holds_only_what_happened():
    summary = StreamSummary(status="complete", end_reason="end", frames_decoded=10, frames_processed=5,
                            frames_detected=5, frames_skipped_corrupt=0, reconnects=0, detections=7,
                            seconds_of_video=0.36666, tracklets=())  # fmt: skip
    record = summary.record()
    assert "periodic" not in record and "retention" not in record and "realtime" not in record
    assert record["counts"] == {"frames_decoded": 10, "frames_processed": 5, "frames_detected": 5,
                                "frames_skipped_corrupt": 0, "reconnects": 0, "detections": 7, "tracklets": 0,
                                "seconds_of_video": 0.367}  # fmt: skip
    paced = dataclasses.replace(summary, realtime={"frames_seen": 3})
    assert paced.record()["realtime"] == {"frames_seen": 3}


def test_stage_clock_charges_the_wait_for_each_frame():
    clock = StageClock()
    assert list(iter_timed_frames(iter([1, 2, 3]), clock)) == [1, 2, 3]
    with clock.stage("work"):
        assert sum([1, 2]) == 3
    assert set(clock.to_dict()) == {"decode", "work"} and all(v >= 0 for v in clock.to_dict().values())


def test_a_stage_is_charged_the_time_of_its_block_even_when_the_block_raises():
    clock = StageClock()
    with pytest.raises(ValueError), clock.stage("work"):
        time.sleep(0.02)
        raise ValueError("stop")
    with clock.stage("other"):
        pass
    assert clock.seconds["work"] >= 0.02 and list(clock.to_dict()) == ["work", "other"]


@pytest.mark.parametrize(
    ("frame_count", "stride", "max_frames", "expected"),
    [(None, 1, None, None), (100, 1, None, 100), (100, 3, None, 34), (100, 2, 10, 5)],
)
def test_expected_frames(frame_count, stride, max_frames, expected):
    info = VideoInfo(source="v", width=64, height=48, fps=25.0, frame_count=frame_count, duration=None, codec="h264",
                     is_live=False)  # fmt: skip
    assert expected_frames(info, SourceConfig(stride=stride, max_frames=max_frames)) == expected
