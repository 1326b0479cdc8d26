"""`python -m bench`: run the benchmarks (see bench/runner.py and docs/benchmarks.md)."""

from __future__ import annotations

from bench.runner import main

raise SystemExit(main())
