"""Performance benchmarks of Pipeline CRM, run against PostgreSQL with `make bench`.

Not tests: they take seconds each, need a real database of their own (`pipeline_crm_bench`,
or BENCH_DATABASE_URL) and write bench/results.json and docs/benchmarks.md. Each benchmark
is a `Case` registered in `bench.runner`; see docs/benchmarks.md.
"""
