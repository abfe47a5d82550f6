"""What the command line prints: a run's summary and a batch's, whole lines in a log."""

from types import SimpleNamespace

from streamreid import cli_output


def test_the_summary_is_not_wrapped_at_80_columns_in_a_log(capsys):
    """Issue 20.15: stdout to a pipe or a file (CI logs) gets every line of the summary whole."""
    note = "the video could not be read past frame 1234 (damaged or truncated file): the report covers what was seen"
    result = SimpleNamespace(
        video=SimpleNamespace(width=640, height=360), status="complete", tracklets=12, short_tracklets=2, persons=4,
        timings={"stream_total": 2.0}, frames_processed=50, frames_decoded=50, notes=(note,), run_dir="runs/x",
        detector=SimpleNamespace(detail="yolo11n.pt from the cache, a long description of where it came from"),
        runtime="openvino (bf16), chosen on this machine: openvino 23.1 fps, torch 9.0 fps; input size 640: people",
        embedder="", realtime=None, report="runs/x/report.html",
    )  # fmt: skip
    cli_output.print_summary(result)
    lines = capsys.readouterr().out.splitlines()
    assert any(note in line for line in lines)
    assert any(result.runtime in line for line in lines)


def _run(**changes):
    fields = dict(
        video=SimpleNamespace(width=640, height=360), status="complete", tracklets=12, short_tracklets=2, persons=4,
        timings={"stream_total": 2.0, "detect": 1.5}, frames_processed=50, frames_decoded=100, notes=(),
        run_dir="runs/x", detector=SimpleNamespace(detail="yolo11n.pt"), runtime="torch", embedder="osnet",
        realtime=None, report="runs/x/report.html",
    )  # fmt: skip
    return SimpleNamespace(**{**fields, **changes})


def test_the_summary_counts_persons_tracklets_and_speed(capsys):
    cli_output.print_summary(_run())
    out = capsys.readouterr().out
    assert "streamreid done: 4 persons from 10 tracklets (2 shorter ones left out)" in out
    assert "640x360, 50 frames processed (100 decoded), 25.0 fps" in out
    assert "runs/x/report.html" in out


def test_a_stopped_run_says_what_stopped_it(capsys):
    cli_output.print_summary(_run(status="interrupted", short_tracklets=0), stopped_by="SIGTERM")
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "streamreid stopped early (SIGTERM): 4 persons from 12 tracklets"


def test_the_batch_summary_names_each_failed_video(capsys):
    outcomes = [SimpleNamespace(status="done", source="a.mp4", error=None),
                SimpleNamespace(status="failed", source="b.mp4", error="cannot open b.mp4: no video")]  # fmt: skip
    result = SimpleNamespace(outcomes=outcomes, failed=[outcomes[1]], matches=None, matched=0, notes=("one note",),
                             index="out/index.html")  # fmt: skip
    cli_output.print_batch_summary(result)
    out = capsys.readouterr().out
    assert "1 of 2 videos done, 1 failed" in out
    assert "failed b.mp4: cannot open b.mp4: no video" in out
    assert "note one note" in out and "out/index.html" in out


def test_the_summary_names_the_tracklets_of_brief_persons(capsys):
    cli_output.print_summary(_run(brief_tracklets=3))
    first = capsys.readouterr().out.splitlines()[0]
    left = "(2 shorter ones and 3 of persons seen too briefly left out)"
    assert first == f"streamreid done: 4 persons from 7 tracklets {left}"
