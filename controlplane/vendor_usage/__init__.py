"""Vendor-reported utilization: the monthly figures each cloud vendor must report (Suining 14, Bozhou 27), kept
beside the measured ones so a report can show where the two disagree — the vendor's numbers are never trusted alone.
"""
