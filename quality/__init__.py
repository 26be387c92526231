"""ifb1.quality."""
