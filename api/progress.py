"""The policyholder's progress link: an expiring signed token, and what it shows.

The consultant sends the user a link; the user opens it without signing in. The token is
`<claim_id>.<expiry as Unix seconds>.<signature>`, the signature HMAC-SHA256 over the claim
id and the expiry with the deployment's auth secret (base64url, no padding). Anyone holding
the link sees where the claim stands, what is still needed from the user, who his agent is and
the payout explained: nothing else about him.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime, timedelta, timezone

from pydantic import BaseModel

from domain.checklist import REJECTION_REASONS_ZH, ChecklistItemStatus
from domain.models import ClaimView
from domain.vocabulary import AwareDatetime, ClaimStage, Closure, TaskKind

# What the signature covers besides the claim and the expiry: a progress token is never
# mistaken for any other thing signed with the same secret.
_CONTEXT = b"claimflow-progress-link-v1\n"
_EXPIRY = re.compile(r"[0-9]{1,11}", re.ASCII)
_CLAIM = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)


class InvalidToken(Exception):
    """Not a token this service issued (malformed or tampered with)."""


class ExpiredToken(Exception):
    """A genuine token whose time has passed."""


def _sign(secret: str, claim_id: str, expires: int) -> str:
    message = _CONTEXT + f"{claim_id}\n{expires}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def make_token(secret: str, claim_id: str, expires_at: datetime) -> str:
    if not _CLAIM.fullmatch(claim_id):
        raise ValueError(f"not a claim id: {claim_id!r}")
    expires = int(expires_at.timestamp())
    return f"{claim_id}.{expires}.{_sign(secret, claim_id, expires)}"


def read_token(secret: str, token: str, now: datetime | None = None) -> tuple[str, datetime]:
    """The claim id and expiry of a genuine, unexpired token.

    Raises InvalidToken for anything this service did not sign, ExpiredToken once it has
    expired (checked after the signature, so a forged expiry is just invalid)."""
    parts = token.split(".")
    if len(parts) != 3 or not _EXPIRY.fullmatch(parts[1]) or not _CLAIM.fullmatch(parts[0]):
        raise InvalidToken("malformed")
    claim_id, expires_text, signature = parts
    expires = int(expires_text)
    if not hmac.compare_digest(
        signature.encode("utf-8", "replace"), _sign(secret, claim_id, expires).encode()
    ):
        raise InvalidToken("bad signature")
    try:
        expires_at = datetime.fromtimestamp(expires, timezone.utc)
    except (ValueError, OverflowError, OSError) as exc:
        raise InvalidToken("expiry out of range") from exc
    if (now or datetime.now(timezone.utc)) >= expires_at:
        raise ExpiredToken(claim_id)
    return claim_id, expires_at


def expiry(ttl: timedelta, now: datetime | None = None) -> datetime:
    return (now or datetime.now(timezone.utc)) + ttl


# --- what the user sees ------------------------------------------------------------------


class Words(BaseModel):
    """One sentence in both languages the console speaks."""

    zh: str
    en: str


class StillNeeded(BaseModel):
    code: str
    title: Words
    reason: Words | None = None
    """Why an earlier copy was not accepted, when it was not."""


class AgentContact(BaseModel):
    name: str
    phone: str | None = None


class PayoutExplained(BaseModel):
    expected: str | None = None
    awarded: str | None = None
    explanation: Words | None = None


class Progress(BaseModel):
    """The policyholder's progress page: plain words, no personal data."""

    claim_id: str
    stage: ClaimStage
    closure: Closure | None
    step: int
    steps: int
    where: Words
    next: Words
    still_needed: list[StillNeeded]
    agent: AgentContact | None
    visit_at: AwareDatetime | None
    payout: PayoutExplained | None
    updated_at: AwareDatetime
    link_expires_at: AwareDatetime


# The user's five steps: received, documents, filing, insurer, decision.
STEPS = 5
_STEP = {
    ClaimStage.DISCOVERY: 1,
    ClaimStage.TRIAGE: 1,
    ClaimStage.DISPATCH: 2,
    ClaimStage.DOCUMENT_GATHERING: 2,
    ClaimStage.VERIFICATION: 2,
    ClaimStage.FILING: 3,
    ClaimStage.PRE_DECISION_EXPLANATION: 4,
    ClaimStage.INSURER_REVIEW: 4,
    ClaimStage.PAYOUT_EXPLANATION: 5,
    ClaimStage.DISPUTE: 5,
    ClaimStage.CLOSED: 5,
}

_WHERE = {
    ClaimStage.DISCOVERY: Words(
        zh="我们已经收到您的理赔，理赔顾问正在对照您的保单查看。",
        en="We have your claim. Your claims consultant is checking it against your policy.",
    ),
    ClaimStage.TRIAGE: Words(
        zh="我们已经收到您的理赔，理赔顾问正在对照您的保单查看。",
        en="We have your claim. Your claims consultant is checking it against your policy.",
    ),
    ClaimStage.DISPATCH: Words(
        zh="您的理赔在保障范围内。我们正在安排工作人员上门帮您。",
        en="Your claim is covered. We are arranging for one of our staff to visit you.",
    ),
    ClaimStage.DOCUMENT_GATHERING: Words(
        zh="我们正在和您一起准备理赔材料。",
        en="We are getting the documents for your claim together with you.",
    ),
    ClaimStage.VERIFICATION: Words(
        zh="材料已经交给理赔顾问，正在检查是否齐全。",
        en="Your documents are with your claims consultant, who is checking they are complete.",
    ),
    ClaimStage.FILING: Words(
        zh="材料已经齐全。您同意后，我们会替您向保险公司提交理赔。",
        en="Your documents are complete. Once you agree, we send the claim to the insurer for you.",
    ),
    ClaimStage.PRE_DECISION_EXPLANATION: Words(
        zh="我们已经替您向保险公司提交了理赔。",
        en="We have sent your claim to the insurer for you.",
    ),
    ClaimStage.INSURER_REVIEW: Words(
        zh="保险公司正在审核您的理赔。",
        en="The insurer is reviewing your claim.",
    ),
    ClaimStage.PAYOUT_EXPLANATION: Words(
        zh="保险公司已经作出决定。我们的工作人员会向您解释结果。",
        en="The insurer has decided. Our staff will explain the result to you.",
    ),
    ClaimStage.DISPUTE: Words(
        zh="您对结果有疑问，我们正在帮您处理。",
        en="You questioned the result; we are taking it up for you.",
    ),
}

_CLOSED = {
    Closure.PAID_AND_EXPLAINED: Words(
        zh="理赔已经完成，保险公司已经赔付。",
        en="Your claim is finished: the insurer has paid.",
    ),
    Closure.DENIED_AND_EXPLAINED: Words(
        zh="保险公司没有同意这次理赔，原因已经向您解释。",
        en="The insurer did not accept this claim; the reason has been explained to you.",
    ),
    Closure.WITHDRAWN: Words(zh="这次理赔已经撤回。", en="This claim was withdrawn."),
    Closure.NOT_COVERED: Words(
        zh="这次情况不在您保单的保障范围内。",
        en="This is not covered by your policy.",
    ),
}

_NOTHING = Words(zh="现在不需要您做任何事，有进展我们会告诉您。",
                 en="Nothing is needed from you now. We will tell you when something changes.")
_BRING = Words(zh="请准备好下面这些材料，我们的工作人员会来取。",
               en="Please have the documents below ready; our staff will collect them.")
_CONFIRM = Words(zh="请告诉我们的工作人员，您是否同意替您提交理赔。",
                 en="Please tell our staff whether you agree that we send the claim for you.")
_LISTEN = Words(zh="我们的工作人员会给您讲解赔付结果，有疑问请随时提出。",
                en="Our staff will explain the payout to you; ask anything you like.")
_DONE = Words(zh="不需要您再做什么了。", en="Nothing more is needed from you.")


def _next(claim: ClaimView, still_needed: list[StillNeeded]) -> Words:
    if claim.closed_at is not None or claim.stage is ClaimStage.CLOSED:
        return _DONE
    kinds = {t.kind for t in claim.tasks}
    if TaskKind.CONFIRM_FILING in kinds:
        return _CONFIRM
    if TaskKind.EXPLAIN_OUTCOME in kinds:
        return _LISTEN
    if still_needed and claim.stage in (
        ClaimStage.DISPATCH, ClaimStage.DOCUMENT_GATHERING, ClaimStage.INSURER_REVIEW
    ):
        return _BRING
    return _NOTHING


def _reason(text: str | None) -> Words | None:
    if not text:
        return None
    return Words(zh=REJECTION_REASONS_ZH.get(text, text), en=text)


def progress_of(
    claim: ClaimView, agent: AgentContact | None, link_expires_at: datetime
) -> Progress:
    closed = claim.stage is ClaimStage.CLOSED
    if closed and claim.closure is not None:
        where = _CLOSED[claim.closure]
    else:
        where = _WHERE.get(claim.stage, _WHERE[ClaimStage.TRIAGE])
    still_needed = (
        []
        if closed
        else [
            StillNeeded(
                code=i.code,
                title=Words(zh=i.title_zh, en=i.title_en),
                reason=_reason(i.rejection_reason)
                if i.status is ChecklistItemStatus.REJECTED
                else None,
            )
            for i in claim.checklist
            if i.status is not ChecklistItemStatus.COLLECTED
        ]
    )
    p = claim.payout
    payout = None
    if p.expected is not None or p.awarded is not None:
        explanation = (
            Words(zh=p.explanation_zh, en=p.explanation_en)
            if p.explanation_zh and p.explanation_en
            else None
        )
        payout = PayoutExplained(
            expected=str(p.expected.payout) if p.expected else None,
            awarded=str(p.awarded) if p.awarded is not None else None,
            explanation=explanation,
        )
    return Progress(
        claim_id=claim.claim_id,
        stage=claim.stage,
        closure=claim.closure,
        step=_STEP.get(claim.stage, 1),
        steps=STEPS,
        where=where,
        next=_next(claim, still_needed),
        still_needed=still_needed,
        agent=agent,
        visit_at=claim.visit_at if claim.stage is ClaimStage.DOCUMENT_GATHERING else None,
        payout=payout,
        updated_at=claim.updated_at,
        link_expires_at=link_expires_at,
    )
