"""Punchcard activities."""
