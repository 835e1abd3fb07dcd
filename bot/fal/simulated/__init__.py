"""FAL_BACKEND=simulated: fal's queue lifecycle in-process, ffmpeg test-pattern videos."""
