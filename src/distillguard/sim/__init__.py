"""The red-team simulator: real human traffic, legitimate look-alikes and attack campaigns.

It only ever produces events for our own evaluation; nothing here talks to a model API.
"""
