"""Conversation data sets used to drive demos, tests, simulations and benchmarks."""
