"""ifb1.pipeline."""
