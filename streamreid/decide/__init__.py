"""Same person or not: similarity between persons, a decision calibrated on the video, merges."""
