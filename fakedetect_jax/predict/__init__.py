"""Point a trained detector at videos: verdict, scores, heatmaps (CLI: python -m fakedetect_jax.predict).

    from fakedetect_jax.predict import Detector, analyse
    det = Detector("runs/quickstart")          # loads, restores, calibrates once (detector.json)
    result, extras = analyse(det, "clip.mp4", explain=True)
"""
from fakedetect_jax.predict.clip import analyse, contact_sheet, score_plot
from fakedetect_jax.predict.detector import Detector, choose_threshold
