"""What a run leaves in its directory as it goes: the crop store, the tracks, ``run.json``, the user's decisions."""
