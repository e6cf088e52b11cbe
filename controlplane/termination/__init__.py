"""Termination of a system (Suining 16, Bozhou 21 and 23, Chongqing 24 and 39, Jiuquan 10): the case and its
transition period, the two-person rule, the verified wipe of the whole footprint, the signed certificate, reclaim and
the billing end date."""
