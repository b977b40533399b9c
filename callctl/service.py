"""``callctl serve``: run the API and the AMI connections under uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from callctl.app import create_app
from callctl.settings import Settings


def serve(settings: Settings) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    base = f"http://{settings.http_host}:{settings.http_port}"
    print(f"callctl serving on {base}")
    print(f"  health:   {base}/health")
    print(f"  API docs: {base}/docs")
    print(f"  AMI:      {settings.ami_host}:{settings.ami_port} (node {settings.node_id})")
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_level="info",
        # Open websockets (wallboards) must not hold a restart up for long.
        timeout_graceful_shutdown=5,
    )
    return 0
