"""The scanner desk: a warm process that answers each scan saved into the scanner's folder.

:mod:`~ifb1.desk.watch` is the terminal desk (``ifb1 process --watch``).
"""
