"""Scores to metrics. Knows no model: everything here takes numpy arrays of scores and labels."""
from fakedetect_jax.evaluate import deepfakebench
from fakedetect_jax.evaluate.metrics import (auc, average_precision, bootstrap_aucs, bootstrap_ci,
                                             eer, eer_nearest, percentile_interval, roc_curve,
                                             summary, tpr_at_fpr)
from fakedetect_jax.evaluate.report import auc_intervals, evaluate_scores, markdown_table, plot_roc
from fakedetect_jax.evaluate.video import video_scores
