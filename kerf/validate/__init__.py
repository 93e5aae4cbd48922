"""kerf's independent validator: rules -> findings (code, severity, where, message, hint).

It never imports the solver: every plan the planner returns is re-checked here from
the Host alone. Entry points:

* :func:`validate_host`: a Host with its instances and requests;
* :func:`validate_description`: what the binding read from a file (locations included);
* :func:`validate_inventory`: only its host inventory (what planning requires);
* :func:`validate_plan`: a plan's placements against the requests they answer.

Every finding code is listed, with its severity and an example, in docs/validation.md.
"""

from kerf.validate.findings import Finding, Report, Severity
from kerf.validate.host import validate_description, validate_host, validate_inventory
from kerf.validate.plan import validate_plan

__all__ = [
    "Finding",
    "Report",
    "Severity",
    "validate_description",
    "validate_host",
    "validate_inventory",
    "validate_plan",
]
