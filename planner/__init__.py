"""Pure placement planning for kerf: hardware and requests in, plans out.

The planner knows nothing of device trees, sysfs or the command line; it does no I/O
and prints nothing. Heavy dependencies (ortools, networkx) are imported only by the
modules that need them.
"""
