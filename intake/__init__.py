"""Intake: decoding a scan file into grey pages (:mod:`~ifb1.intake.scan`), and watching the
scanner's folder for new, completely written scans (:mod:`~ifb1.intake.watch`).
"""
