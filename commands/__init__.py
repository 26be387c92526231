"""Thin click commands, one module per command group: parse options, call one function, print."""
