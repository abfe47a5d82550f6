"""Tracklets into persons: the working set, linking, each person's detections, ranking, exports."""
