"""ifb1.models."""
