"""The single pass: decode each frame once, track people, keep their statistics and best crops."""
