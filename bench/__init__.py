"""Benchmarks of the platform (`make bench`, `make bench BENCH_ARGS=--quick`); see docs/BENCHMARKS.md."""
