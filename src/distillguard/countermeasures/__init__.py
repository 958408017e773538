"""What the gateway does to traffic that policy decided to degrade rather than refuse."""
