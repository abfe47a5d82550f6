"""The MOT-challenge text file: 1-based frames, x,y,w,h boxes, conf -1 for filled boxes."""

import numpy as np
import pytest
import supervision as sv

from streamreid.run.mot import MotSink


def test_rows_follow_the_mot_convention(tmp_path):
    path = tmp_path / "mot.txt"
    detections = sv.Detections(xyxy=np.array([[10, 20, 40, 100], [0, 0, 5, 5]], np.float32),
                               confidence=np.array([0.5, 0.25], np.float32), tracker_id=np.array([7, 3]))  # fmt: skip
    with MotSink(path) as sink:
        sink.write(0, detections)
        sink.write_rows(np.array([4]), np.array([7]), np.array([[12.0, 20.0, 42.5, 100.0]]), np.array([-1.0]))
        assert sink.rows == 3
    assert path.read_text().splitlines() == [
        "1,7,10.00,20.00,30.00,80.00,0.5000,-1,-1,-1",
        "1,3,0.00,0.00,5.00,5.00,0.2500,-1,-1,-1",
        "5,7,12.00,20.00,30.50,80.00,-1.0000,-1,-1,-1",
    ]


def test_detections_without_confidence_are_written_as_sure(tmp_path):
    with MotSink(tmp_path / "mot.txt") as sink:
        sink.write(2, sv.Detections(xyxy=np.array([[0, 0, 1, 1]], np.float32), tracker_id=np.array([1])))
    assert (tmp_path / "mot.txt").read_text() == "3,1,0.00,0.00,1.00,1.00,1.0000,-1,-1,-1\n"


def test_nothing_is_written_once_closed_and_close_twice_is_fine(tmp_path):
    sink = MotSink(tmp_path / "mot.txt").__enter__()
    sink.write(0, sv.Detections.empty())
    sink.close()
    sink.close()
    with pytest.raises(RuntimeError, match="closed"):
        sink.write_rows(np.array([0]), np.array([1]), np.zeros((1, 4)), np.ones(1))
    assert (tmp_path / "mot.txt").read_text() == ""
