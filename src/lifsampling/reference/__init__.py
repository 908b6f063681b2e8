"""Independent reference simulators (optional dependencies), for validation and benchmarks."""
