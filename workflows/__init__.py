"""Punchcard workflows."""
