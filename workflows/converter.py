"""The one data converter used by worker, starter, tests and the replayer.

Workflow code never imports this module's callers: the encryption codec is built outside
the sandbox (workers/codec.py) and handed in, so no crypto library enters the sandbox.
"""

from __future__ import annotations

import dataclasses

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)


def make_data_converter(
    codec: PayloadCodec | None = None, *, encode_failures: bool | None = None
) -> DataConverter:
    """Pydantic-aware JSON payloads, encoded by `codec` when given.

    `encode_failures` (default: whether a codec is given) moves failure messages and stack
    traces into an encoded payload too, since provider errors can echo contact details.
    """
    if codec is None:
        return pydantic_data_converter
    encode = encode_failures if encode_failures is not None else True
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=(
            DefaultFailureConverterWithEncodedAttributes
            if encode
            else pydantic_data_converter.failure_converter_class
        ),
    )
