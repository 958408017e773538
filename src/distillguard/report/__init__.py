"""Reports readable offline: Markdown tables and self-contained HTML with embedded plots."""
