"""`python -m workers`: run one worker replica from the environment's settings."""

import asyncio
import logging

from workers.settings import Settings
from workers.telemetry import configure_logging
from workers.worker import run_worker


def main() -> None:
    settings = Settings()
    configure_logging(settings, level=logging.INFO)
    asyncio.run(run_worker(settings))


if __name__ == "__main__":
    main()
