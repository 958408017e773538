"""Scoring: signals and campaign aggregates to one score per account, with reasons."""
