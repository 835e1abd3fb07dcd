"""The job pipeline: the runner, progress, download, probe, transcode; images and characters."""
