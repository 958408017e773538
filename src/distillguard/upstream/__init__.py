"""Stand-in upstream model servers for demos, tests and benchmarks (no real model behind them)."""
