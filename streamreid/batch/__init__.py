"""Many videos: a run per video, on local processes or Ray, and the same person across videos."""
