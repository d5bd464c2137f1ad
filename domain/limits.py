"""The history budget: how much one claim can receive, defined once.

Every input a claim takes (the opening, every task's outcome, notes, checklist progress, the
actions on tasks) is bounded by these limits; the pydantic types use them, so they show in
OpenAPI as `maxItems` / `maxLength` and an input over one is refused with 422 naming the
field and the limit. Each is set well above what a real claim needs, and together they keep
the largest request the API accepts under MAX_REQUEST_PAYLOAD_BYTES as JSON even when every
character takes six bytes (`tests/domain/test_history_budget.py` computes the bound): one
action adds a bounded amount to a claim's history. (Its lifetime total is a matter of
continuing as new, not of refusing work.)

Pure constants, no imports: the workflow sandbox, the API and the store share them.
"""

from __future__ import annotations

# --- text (characters) ------------------------------------------------------------------

MAX_NAME = 200  # a person's, a city's, an insurer's or a hospital's name, a user id: real ones < 60
MAX_TEXT = 4000  # a free-text explanation, reason or claim report: about two printed pages
MAX_NOTE_CHARS = 4000  # one note on a claim: the same two pages; more is several notes
MAX_DOCUMENT_TEXT = 300  # why one document was rejected, or a note on it: two or three sentences
MAX_EXPENSE_TEXT = 60  # one invoice line's item, or why it is excluded: real ones < 40
MAX_REFERENCE = 64  # a policy number or an insurer's claim reference: real ones < 30
MAX_CODE = 64  # a document code of the catalogue (snake_case): the longest is < 40
MAX_PHONE = 32  # a phone number with country code and extension
MAX_SEARCH = 200  # a search term: part of a name or a policy number
MAX_CURSOR = 512  # an opaque paging cursor the API handed out: ~100 today

# --- lists (items) ----------------------------------------------------------------------

MAX_NEEDS = 4  # offline needs: each of the four OfflineNeed at most once (duplicates dropped)
MAX_ASSIST_SERVICES = 8  # assist services: each of the eight AssistService at most once
MAX_CHECKLIST_UPDATES = 30  # documents in one checklist update: a checklist has at most 12
MAX_HOSPITAL_TRIPS_PER_REQUEST = 10  # hospital trips recorded at once: real visits need 1-3
MAX_CODES = 30  # document codes in one list (printed at a trip, asked for by the insurer)
MAX_EXPENSE_LINES = 300  # invoice lines of one filing: the longest medical claims have ~200
MAX_TASK_IDS = 500  # tasks moved by one bulk reassignment: a whole team's inbox

# --- numbers ----------------------------------------------------------------------------

MAX_AGE = 130  # years: older than anyone has lived
MAX_PAGE = 200  # items on one page of a list
MAX_LINK_DAYS = 90  # how long a policyholder's progress link may work

# --- times and money: what a claim's life and the read model's columns hold -------------

EARLIEST_YEAR = 2000  # no date or time of a claim (incident, visit, filing, filter) is older
LATEST_YEAR = 2100  # nor later: far past any claim's life, well inside every column and clock
MAX_AMOUNT = "999999999999.99"  # yuan: numeric(14, 2), every money column; also any total

# --- the budget these add up to ---------------------------------------------------------

MAX_REQUEST_PAYLOAD_BYTES = 256 * 1024  # the largest valid request: half Temporal's 512 KiB warning
