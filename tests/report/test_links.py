"""Why a person's tracklets are joined, as the report words it."""


def test_a_merge_by_appearance_does_not_quote_the_motion_prediction_as_a_distance():
    from streamreid.report.links import checks_detail

    checks = {"temporal_gap": {"value": 806}, "spatial_distance": {"value": 4116.0}, "area_ratio": {"value": 0.18}}
    assert checks_detail(checks, moved_on=True) == "806 frame gap, 4116 px apart, size ratio 0.18"
    assert checks_detail(checks, moved_on=False) == "806 frame gap, size ratio 0.18"  # predicted far off the frame
