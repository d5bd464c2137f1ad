"""The `claimflow` command: up, api, worker, migrate, users, demo, reconcile, new-payload-key."""

from __future__ import annotations

import argparse
import asyncio
import time

import structlog
import uvicorn

from pathlib import Path

from claimflow import reconcile as reconcile_cli
from claimflow import users_cli
from claimflow.bootstrap import admin_password, read_running, with_running_deployment
from claimflow.logging import configure_logging
from claimflow.settings import get_settings
from claimflow.temporal import require_payload_keys

log = structlog.get_logger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="claimflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start everything: embedded Temporal + PostgreSQL, worker, API")
    api = sub.add_parser("api", help="run the HTTP API against TEMPORAL_ADDRESS and DATABASE_URL")
    api.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    sub.add_parser("worker", help="run a worker against TEMPORAL_ADDRESS and DATABASE_URL")
    sub.add_parser("migrate", help="apply pending database migrations to DATABASE_URL")
    users_cli.add_parser(sub)
    demo = sub.add_parser("demo", help="drive Mr. Wang's case through a running system's API")
    demo.add_argument("--url", default=None, help="API base URL (default: the configured one)")
    demo.add_argument(
        "--admin-password",
        default=None,
        help="default: CLAIMFLOW_ADMIN_PASSWORD, or the one `claimflow up` keeps in the data folder",
    )
    reconcile_cli.add_parser(sub)
    sub.add_parser(
        "new-payload-key",
        help="print a new payload key (id:base64) for CLAIMFLOW_PAYLOAD_KEYS",
    )
    bench_cmd = sub.add_parser(
        "bench", help="benchmarks on embedded servers: throughput, baseline, scale (BENCHMARKS.md)"
    )
    from bench.run import add_arguments as bench_arguments

    bench_arguments(bench_cmd)
    args = parser.parse_args(argv)

    if args.command == "new-payload-key":
        from claimflow.codec import new_key_spec

        print(new_key_spec(f"k{int(time.time())}"))
        return

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)

    if args.command == "up":
        from claimflow.runtime import up

        up(settings)
    elif args.command == "api":
        _require(settings.temporal_address, "TEMPORAL_ADDRESS")
        _require(settings.database_url, "DATABASE_URL")
        _require(settings.auth_secret, "CLAIMFLOW_AUTH_SECRET")
        require_payload_keys(settings, "api")
        uvicorn.run(
            "api.main:create_app_from_env",
            factory=True,
            host=settings.api_host,
            port=settings.api_port,
            workers=args.workers,
            log_config=None,
        )
    elif args.command == "worker":
        from claimflow.runtime import run_worker

        from worker import run_loop

        _require(settings.temporal_address, "TEMPORAL_ADDRESS")
        require_payload_keys(settings, "worker")
        run_loop(run_worker(settings), settings)
    elif args.command == "migrate":
        from store.migrate import migrate

        _require(settings.database_url, "DATABASE_URL")
        applied = asyncio.run(migrate(settings.database_url))  # type: ignore[arg-type]
        log.info("migrations_done", applied=applied)
    elif args.command == "reconcile":
        # Against the running `claimflow up` where the environment does not say otherwise.
        settings = with_running_deployment(settings)
        require_payload_keys(settings, "reconcile")
        reconcile_cli.command(settings, args)
    elif args.command == "users":
        asyncio.run(users_cli.run(settings, args))
    elif args.command == "bench":
        from bench.run import run_from_args

        run_from_args(args)
    elif args.command == "demo":
        from claimflow.demo import run_demo

        running = read_running(Path(settings.data_dir).resolve()) or {}
        asyncio.run(
            run_demo(
                args.url
                or running.get("api_url")
                or f"http://{settings.api_host}:{settings.api_port}",
                args.admin_password or admin_password(Path(settings.data_dir)),
            )
        )


def _require(value: object, name: str) -> None:
    if not value:
        raise SystemExit(f"{name} is not set")
