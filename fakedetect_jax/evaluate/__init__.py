"""Scores to metrics. Knows no model: everything here takes numpy arrays of scores and labels."""
from fakedetect_jax.evaluate.metrics import auc, average_precision, eer, roc_curve, summary, tpr_at_fpr
from fakedetect_jax.evaluate.report import evaluate_scores, markdown_table, plot_roc
from fakedetect_jax.evaluate.video import video_scores
