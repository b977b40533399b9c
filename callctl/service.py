"""``callctl serve``: check the settings, then run the API and the AMI connections."""

from __future__ import annotations

import asyncio
import logging
import sys

import uvicorn

from callctl.app import create_app
from callctl.runtime import ami_nodes
from callctl.settings import Settings
from callctl.startup import LoginOutcome, StartupError, check_logins, check_settings

log = logging.getLogger(__name__)


def serve(settings: Settings) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        checked = check_settings(settings)
        outcomes = asyncio.run(check_logins(ami_nodes(checked.nodes)))
    except StartupError as exc:
        print(f"callctl: {exc}", file=sys.stderr)
        return 2
    https = settings.http_tls_certfile is not None and settings.http_tls_keyfile is not None
    base = f"{'https' if https else 'http'}://{settings.http_host}:{settings.http_port}"
    print(f"callctl serving on {base}")
    print(f"  health:   {base}/health")
    if settings.api_docs:
        print(f"  API docs: {base}/docs")
    for node in checked.nodes.nodes:
        tls = " TLS" if node.tls is not None else ""
        outcome = outcomes[node.node_id]
        print(f"  node {node.node_id}: AMI {node.ami_host}:{node.ami_port}{tls} ({outcome.value})")
        if outcome is LoginOutcome.REFUSED:
            log.error("node %s: AMI authentication failed; serving the other nodes", node.node_id)
        if outcome is LoginOutcome.TLS_FAILED:
            log.error("node %s: AMI TLS verification failed; serving the others", node.node_id)
    uvicorn.run(
        create_app(settings, database_url=checked.database_url, nodes=checked.nodes),
        host=settings.http_host,
        port=settings.http_port,
        log_level="info",
        # Open websockets (wallboards) must not hold a restart up for long.
        timeout_graceful_shutdown=5,
        ssl_certfile=settings.http_tls_certfile if https else None,
        ssl_keyfile=settings.http_tls_keyfile if https else None,
    )
    return 0
