"""`python -m workers`: run one worker replica from the environment's settings."""

import asyncio
import logging

from workers.settings import Settings
from workers.worker import run_worker


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(run_worker(Settings()))


if __name__ == "__main__":
    main()
