"""The ground floor: the shapes every other room shares (constraints, violations, counts).

Nothing here reads or writes a file or decides anything: `checking` decides, `reporting` turns
these values into bytes and back.
"""
