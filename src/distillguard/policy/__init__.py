"""Policies: what to do with a request, given what is known about it."""
