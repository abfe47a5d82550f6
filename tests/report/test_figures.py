"""The report's figures: colours, clock times, a similarity against the video's line."""

from streamreid.report.figures import format_clock, person_colour, scale_colour


def test_scale_colours_run_from_dark_to_yellow():
    assert scale_colour(0.0) == "#440154" and scale_colour(1.0) == "#fde725"
    assert scale_colour(-3) == scale_colour(0.0)
    assert len({person_colour(i) for i in range(20)}) == 20


def test_format_clock():
    assert format_clock(0) == "0:00.0"
    assert format_clock(65.34) == "1:05.3"
    assert format_clock(3725.0) == "1:02:05.0"
    assert format_clock(None) == "-"


def test_a_similarity_and_the_line_never_read_the_same():
    from streamreid.report.figures import versus

    assert versus(0.6677, 0.6733) == "0.668, just below this video's line (0.673)"
    assert versus(0.82, 0.64) == "0.82, above this video's line (0.64)"
    assert versus(0.673318, 0.673292).startswith("0.6733, just above")  # four digits at most
    assert versus(0.5, None) == "0.50"
