"""The one data converter used by worker, starter, tests and the replayer."""

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter


def make_data_converter() -> DataConverter:
    """Pydantic-aware JSON payloads (an encryption codec joins here with the privacy work)."""
    return pydantic_data_converter
