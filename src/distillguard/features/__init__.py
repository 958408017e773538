"""What an event means: the one place request features are computed, for every path."""
