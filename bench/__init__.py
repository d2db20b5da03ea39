"""Benchmarks, run by ``make bench``: they measure and print, they never assert a timing.

A benchmark does check that its result is right (the work it timed really happened, once):
a wrong result exits non-zero instead of printing a number as if it were fine.
"""
