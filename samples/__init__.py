"""ifb1.samples."""
