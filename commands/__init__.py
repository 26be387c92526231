"""The ``ifb1`` commands: one thin click module per command group.

Each parses its options, calls one function of the package that does the work and prints the
result; :mod:`ifb1.cli` imports them only when invoked.
"""
