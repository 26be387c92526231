"""ifb1.barcode."""
