"""Campaigns: accounts linked by evidence of one operator behind them."""
