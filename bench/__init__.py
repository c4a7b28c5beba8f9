"""Benchmarks that run Punchcard on its real stack and compare it with bare Temporal."""
