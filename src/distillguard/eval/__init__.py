"""Evaluation: simulate, detect with the production engine, measure against ground truth."""
