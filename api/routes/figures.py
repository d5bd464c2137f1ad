"""Figures for managers: the current load and a time range's throughput."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from api.auth import require_manager
from api.deps import PoolDep
from api.schemas import Problem
from domain.vocabulary import EARLIEST, AwareDatetime
from store import figures as store_figures
from store.figures import Figures

router = APIRouter(
    prefix="/figures",
    tags=["figures"],
    dependencies=[Depends(require_manager)],
    responses={403: {"model": Problem, "description": "Managers only"}},
)

DEFAULT_RANGE = timedelta(days=30)
LONGEST_RANGE = timedelta(days=366)


@router.get("", response_model=Figures, responses={422: {"model": Problem}})
async def get_figures(
    pool: PoolDep,
    range_from: Annotated[
        AwareDatetime | None, Query(alias="from", description="Start (included); aware.")
    ] = None,
    range_to: Annotated[
        AwareDatetime | None, Query(alias="to", description="End (excluded); aware.")
    ] = None,
) -> Figures:
    """Open claims per stage and city, overdue tasks and stalled claims as of now; over
    [from, to) (the last 30 days unless given): task cycle times and SLA attainment per
    kind, payouts awarded, and a per-day series in Asia/Shanghai days."""
    end = range_to or datetime.now(UTC)
    # The default range never reaches before the first instant a claim can hold.
    start = range_from or max(end - DEFAULT_RANGE, EARLIEST)
    if start >= end:
        raise HTTPException(status_code=422, detail="`from` must be before `to`")
    if end - start > LONGEST_RANGE:
        raise HTTPException(status_code=422, detail="the range is longer than 366 days")
    return await store_figures.figures(pool, start, end)
