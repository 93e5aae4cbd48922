"""The CP-SAT placement model, split by concern.

``spec``     the model's plain input (no ortools): core classes, demands, layout
``model``    variables and hard constraints, one ``add_*`` function per family
``tiers``    the objective tiers as linear expressions
``search``   lexicographic solving, status handling, solution read-out
``realize``  turning a solution into concrete CPUs, memory regions and devices

This package file imports nothing so that the plain ``spec`` module can be used
without loading ortools.
"""
