"""`python -m workers`: run one worker replica from the environment's settings."""

import asyncio
import logging
import os

from workers.settings import Settings
from workers.shutdown import WorkerStopTimedOut
from workers.telemetry import configure_logging
from workers.worker import run_worker

log = logging.getLogger("punchcard.worker")
EXIT_STOP_TIMED_OUT = 70


async def serve(settings: Settings) -> None:
    """Run the worker; a stop that overran its deadline ends the process right away, since
    waiting for the tasks that held it (as `asyncio.run` would) could take forever."""
    try:
        await run_worker(settings)
    except WorkerStopTimedOut as err:
        log.error("%s: exiting without waiting further", err)
        logging.shutdown()
        os._exit(EXIT_STOP_TIMED_OUT)


def main() -> None:
    settings = Settings()
    configure_logging(settings, level=logging.INFO)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
