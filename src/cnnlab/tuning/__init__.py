"""Tuning: grid search with k-fold cross-validation, repeated seeds, and the statistics to compare them."""
