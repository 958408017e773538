"""Watermarks a gateway puts in answers, and the tests that find them in text or tokens."""
