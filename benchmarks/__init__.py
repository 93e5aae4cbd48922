"""kerf's placement benchmark: the CP-SAT planner against greedy allocators.

Run it from the repository root::

    python -m benchmarks run --quick        # a few minutes: every sequence on five hosts
    python -m benchmarks run                # the full run (progress bar with an ETA)
    python -m benchmarks cli                # start-up times of the kerf commands

Modules, in the order data flows through them:

``topologies``  the hosts T1-T10, built with planner.synthetic / assemble_host
``traces``      published VM size / lifetime distributions, as small cited tables
``workload``    drawing one request (sizes relative to a NUMA node, policies)
``sequences``   the request sequences S1-S7 for one host and seed
``contenders``  the planner (online and gang mode) and every baseline, one interface
``simulate``    replaying a sequence for one contender; every placement validated
``capacity``    reference-flavour capacity of a host state (closed form)
``stats``       quantiles, Wilcoxon signed-rank with Holm, performance profiles
``summary``     from runs to the figures the report shows
``report`` / ``plots``  report.md and the PNG figures
``suite``       which runs make up a quick or full benchmark, and running them
``clibench``    the CLI start-up benchmark
"""
