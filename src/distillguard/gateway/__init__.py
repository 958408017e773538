"""The OpenAI-compatible gateway: authenticate, record, decide, forward."""
