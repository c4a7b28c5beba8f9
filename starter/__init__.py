"""Punchcard starter."""
