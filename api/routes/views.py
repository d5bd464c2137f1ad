"""Saved views: a claim search a team names and shares, run like the claim list."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response

from api.acting import SavedViewRequest, acted
from api.auth import Manager, require_manager
from api.deps import PoolDep
from api.exact import Exact
from api.routes.claims import search_claims
from api.schemas import (
    ClaimQuery,
    ClaimsPage,
    PageParams,
    Problem,
    SavedView,
    SavedViewInput,
    SavedViews,
)
from store import views
from store.views import SavedViewRow

router = APIRouter(
    prefix="/views",
    tags=["views"],
    dependencies=[Depends(require_manager)],
    responses={403: {"model": Problem, "description": "Managers only"}},
)


def _public(row: SavedViewRow) -> SavedView:
    return SavedView(
        view_id=row.view_id,
        team=row.team,
        name=row.name,
        filters=ClaimQuery.stored(row.filters),
        created_by=row.created_by,
        created_at=row.created_at,
    )


async def _view(pool: PoolDep, view_id: str) -> SavedViewRow:
    row = await views.get(pool, view_id)
    if row is None:
        raise HTTPException(status_code=404, detail=f"no saved view {view_id}")
    return row


@router.post("", status_code=201, response_model=SavedView, responses={409: {"model": Problem}})
async def create_view(
    request: Exact[SavedViewRequest], pool: PoolDep, user: Manager
) -> SavedView:
    """Save a claim query under a name for the team; names are unique within a team."""
    view = acted(user, request, SavedViewInput, "created_by")
    row = await views.create(
        pool,
        view_id=f"VIEW-{uuid.uuid4().hex[:16]}",
        team=view.team,
        name=view.name,
        filters=view.filters.model_dump(mode="json", exclude_defaults=True),
        created_by=view.created_by,
    )
    if row is None:
        raise HTTPException(
            status_code=409, detail=f"team {view.team} already has a view named {view.name}"
        )
    return _public(row)


@router.get("", response_model=SavedViews)
async def list_views(pool: PoolDep, team: Annotated[str, Query(min_length=1)]) -> SavedViews:
    return SavedViews(items=[_public(r) for r in await views.for_team(pool, team)])


@router.get("/{view_id}", response_model=SavedView, responses={404: {"model": Problem}})
async def get_view(view_id: str, pool: PoolDep) -> SavedView:
    return _public(await _view(pool, view_id))


@router.delete("/{view_id}", status_code=204, responses={404: {"model": Problem}})
async def delete_view(view_id: str, pool: PoolDep) -> Response:
    if not await views.delete(pool, view_id):
        raise HTTPException(status_code=404, detail=f"no saved view {view_id}")
    return Response(status_code=204)


@router.get(
    "/{view_id}/claims",
    response_model=ClaimsPage,
    responses={404: {"model": Problem}, 422: {"model": Problem}},
)
async def run_view(view_id: str, pool: PoolDep, page: Annotated[PageParams, Query()]) -> ClaimsPage:
    """The claims the view's query finds now, paged like `GET /claims`."""
    query = ClaimQuery.stored((await _view(pool, view_id)).filters)
    return await search_claims(pool, query, limit=page.limit, cursor=page.cursor)
