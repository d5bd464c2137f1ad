"""The service policy a claim runs under, snapshotted into the claim when it opens.

Snapshotting keeps the workflow deterministic (it never reads configuration itself) and
means a claim keeps the rules it was opened under.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel


class ServicePolicy(BaseModel):
    offline_cities: list[str] = ["Beijing"]
    sla_triage: timedelta = timedelta(hours=24)
    sla_document_gathering: timedelta = timedelta(days=7)

    def serves(self, city: str) -> bool:
        return city.strip().casefold() in {c.strip().casefold() for c in self.offline_cities}
