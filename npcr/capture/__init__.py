"""From a real capture (photos, a video, or a posed scene) to a training-ready native scene:
frames from video, structure from motion and triangulation (pycolmap), dense points from photos
(plane-sweep stereo), and the pipeline tying them together (tools/process_capture.py)."""
