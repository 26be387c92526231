"""Thin click commands: each parses its options, calls one function and prints the outcome."""
