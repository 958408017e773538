"""Intel: campaign indicators shared with peer providers as STIX 2.1, and matched back.

Only derived values cross the boundary (networks, SHA-256 digests, MinHash signatures), never
prompts, raw payment fingerprints or raw client strings: those are customer data.
"""
