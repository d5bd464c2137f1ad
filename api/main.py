"""Entry point for `uvicorn --factory api.main:create_app_from_env` and `claimflow api`."""

from __future__ import annotations

from fastapi import FastAPI

from api.app import create_app
from claimflow.settings import get_settings


def create_app_from_env() -> FastAPI:
    return create_app(get_settings())
