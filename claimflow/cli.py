"""The `claimflow` command: up, api, worker, migrate, users, demo, reconcile."""

from __future__ import annotations

import argparse
import asyncio

import structlog
import uvicorn

from pathlib import Path

from claimflow import reconcile as reconcile_cli
from claimflow import users_cli
from claimflow.bootstrap import admin_password
from claimflow.logging import configure_logging
from claimflow.settings import get_settings

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
    bench_cmd = sub.add_parser(
        "bench", help="benchmarks on embedded servers: throughput, baseline, scale (BENCHMARKS.md)"
    )
    from bench.run import add_arguments as bench_arguments

    bench_arguments(bench_cmd)
    args = parser.parse_args(argv)

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)

    if args.command == "up":
        from claimflow.runtime import up

        up(settings)
    elif args.command == "api":
        _require(settings.temporal_address, "TEMPORAL_ADDRESS")
        _require(settings.database_url, "DATABASE_URL")
        _require(settings.auth_secret, "CLAIMFLOW_AUTH_SECRET")
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
        run_loop(run_worker(settings), settings)
    elif args.command == "migrate":
        from store.migrate import migrate

        _require(settings.database_url, "DATABASE_URL")
        applied = asyncio.run(migrate(settings.database_url))  # type: ignore[arg-type]
        log.info("migrations_done", applied=applied)
    elif args.command == "reconcile":
        reconcile_cli.command(settings, args)
    elif args.command == "users":
        asyncio.run(users_cli.run(settings, args))
    elif args.command == "bench":
        from bench.run import run_from_args

        run_from_args(args)
    elif args.command == "demo":
        from claimflow.demo import run_demo

        asyncio.run(
            run_demo(
                args.url or f"http://{settings.api_host}:{settings.api_port}",
                args.admin_password or admin_password(Path(settings.data_dir)),
            )
        )


def _require(value: object, name: str) -> None:
    if not value:
        raise SystemExit(f"{name} is not set")
