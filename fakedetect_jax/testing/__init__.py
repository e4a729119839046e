"""Test material others can reuse: tiny replicas of the gated datasets' layouts (`replicas`) and
the check of a prepared build against them (`contract`, which imports TFDS)."""
