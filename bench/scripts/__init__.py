"""Stand-alone programs the benchmarks run as child processes (each timed whole)."""
