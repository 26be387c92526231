"""ifb1.enhance."""
