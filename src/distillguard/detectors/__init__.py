"""Detectors: each turns one account's events into one signal with a reason.

Every detector obeys ``detectors.base.Detector`` and is listed in ``REGISTRY``; one conformance
test checks all of them for causality, bounded state, determinism and serialisable state.
"""
