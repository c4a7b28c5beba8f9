"""Punchcard workers."""
