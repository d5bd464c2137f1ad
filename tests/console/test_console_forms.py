"""The console's forms in Chromium: the API's 422s in place with nothing typed lost, the
manager's bulk reassignment and saved views, and a progress link that expired or was altered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from playwright.async_api import expect

from api.progress import make_token
from claimflow.settings import Settings
from tests.console.support import EN, PASSWORD, PHONE, ZH, Open, add_user, click_and_render, fill, visit
from tests.support.claims import open_claim

CONSULTANT, MANAGER = "xiao.gao", "manager.zhao"


def error_of(page, path: str):
    return page.locator(f"[data-path='{path}'] > .field-error")


async def test_the_apis_422_shows_next_to_each_field_and_keeps_what_was_typed(
    admin: httpx.AsyncClient, person: Open
):
    await add_user(admin, CONSULTANT, "小高", "consultant")
    gao = await person(CONSULTANT)
    g = gao.page
    await visit(g, "#/claims/new")
    typed = {
        ZH["field.policyholder_name"]: "王先生",
        ZH["field.city"]: "Beijing",
        ZH["field.age"]: "200",
        ZH["field.policy_number"]: "P-2019-000123",
        ZH["field.insurer"]: "Example Life",
        ZH["field.sum_insured"]: "二十万",
        ZH["field.description"]: "脑梗住院，一直没有理赔。",
    }
    for label, value in typed.items():
        await fill(g, label, value)
    await g.get_by_label(ZH["need.elderly"], exact=True).check()
    await g.get_by_role("button", name=ZH["new.submit"]).click()

    await error_of(g, "policy.sum_insured").wait_for()
    assert await error_of(g, "policy.sum_insured").inner_text() == ZH["err.number"]
    assert await error_of(g, "policyholder.age").inner_text() == "不能大于 130"
    assert await error_of(g, "incident.occurred_on").inner_text() == ZH["err.date"]
    assert await error_of(g, "policyholder.name").is_hidden()
    summary = g.locator("form#new-claim .form-error")
    assert await summary.get_attribute("role") == "alert"
    assert "3" in await summary.inner_text()
    sum_insured = g.get_by_label(ZH["field.sum_insured"], exact=True)
    assert await sum_insured.get_attribute("aria-invalid") == "true"
    # The error is read with the field, and the first wrong field has the focus.
    described = await g.get_by_label(ZH["field.age"], exact=True).get_attribute("aria-describedby")
    assert await g.locator(f"[id='{described.split()[-1]}']").inner_text() == "不能大于 130"
    assert await g.evaluate("document.activeElement.name") == "policyholder.age"
    for label, value in typed.items():
        assert await g.get_by_label(label, exact=True).input_value() == value
    assert await g.get_by_label(ZH["need.elderly"], exact=True).is_checked()
    await gao.shot("18-form-422-in-place")

    # Corrected, the same form opens the claim.
    await fill(g, ZH["field.age"], "78")
    await fill(g, ZH["field.sum_insured"], "200000.00")
    await fill(g, ZH["field.occurred_on"], "2021-03-14")
    await click_and_render(g, g.get_by_role("button", name=ZH["new.submit"]))
    claim = g.locator(".claim[data-stage='triage']")
    await claim.wait_for()
    claim_id = await claim.get_attribute("data-claim")

    # A rule of the domain (a covered claim needs a path) is shown in words, in Chinese.
    await visit(g, f"#/tasks/{claim_id}-T1")
    await g.get_by_label(ZH["liability.covered"], exact=True).check()
    await fill(g, ZH["triage.explanation"], "住院治疗属于保障范围。")
    await g.get_by_role("button", name=ZH["task.complete"], exact=True).click()
    task_summary = g.locator("form#task-form .form-error")
    await task_summary.wait_for()
    assert ZH["server.a covered claim needs a path: online or offline"] in (
        await task_summary.inner_text())
    assert await g.get_by_label(ZH["triage.explanation"]).input_value() == "住院治疗属于保障范围。"
    assert await g.get_by_label(ZH["liability.covered"], exact=True).is_checked()

    # The progress link's own field.
    await visit(g, f"#/claims/{claim_id}")
    await fill(g, ZH["link.valid_days"], "0")
    await g.get_by_role("button", name=ZH["link.create"]).click()
    await error_of(g, "valid_days").wait_for()
    assert await error_of(g, "valid_days").inner_text() == "不能小于 1"
    assert await g.get_by_label(ZH["link.valid_days"]).input_value() == "0"


async def test_the_manager_reassigns_tasks_in_bulk_and_keeps_a_view(
    admin: httpx.AsyncClient, person: Open
):
    await add_user(admin, MANAGER, "赵经理", "manager")
    zhang = await open_claim(admin, policyholder={"name": "Mr. Zhang", "city": "Beijing"})
    li = await open_claim(admin, policyholder={"name": "Ms. Li", "city": "Wuhan"})
    other = await open_claim(admin, consultant="xiao.wu")
    zhao = await person(MANAGER)
    m = zhao.page
    await visit(m, "#/search?stage=triage&consultant=xiao.gao")
    await m.locator(f"tr[data-claim='{zhang['claim_id']}']").wait_for()
    await expect(m.locator(f"tr[data-claim='{other['claim_id']}']")).to_have_count(0)
    for claim in (zhang, li):
        await m.locator(f"tr[data-claim='{claim['claim_id']}'] input[name='task_ids']").check()
    await fill(m, ZH["bulk.assignee"], "xiao.li")
    await fill(m, ZH["bulk.reason"], "小高休假")
    await click_and_render(m, m.get_by_role("button", name=ZH["bulk.submit"]))
    await m.locator("#flash.flash-ok").wait_for()
    assert await m.locator("#flash").inner_text() == "已重新分配 2 / 2 项任务。"
    for claim in (zhang, li):
        row = m.locator(f"tr[data-claim='{claim['claim_id']}']")
        assert "xiao.li" in await row.inner_text()
        tasks = (await admin.get("/tasks", params={"claim_id": claim["claim_id"]})).json()
        assert [t["assignee"] for t in tasks["items"]] == ["xiao.li"]

    # The search, kept as the team's view; opened again later; then deleted.
    await fill(m, ZH["views.name"], "初审积压")
    await click_and_render(m, m.get_by_role("button", name=ZH["views.save"]))
    link = m.get_by_role("link", name="初审积压")
    await link.wait_for()
    await zhao.shot("19-manager-bulk-and-views")
    await visit(m, "#/search")
    await expect(m.locator("tr[data-claim]")).to_have_count(3)
    await m.get_by_role("link", name="初审积压").click()
    await m.locator("body[data-route='/search']").wait_for()
    await m.locator(f"tr[data-claim='{li['claim_id']}']").wait_for()
    # The list re-renders after the view's search: wait for it, do not count too early.
    await expect(m.locator("tr[data-claim]")).to_have_count(2)
    assert await m.get_by_label(ZH["col.stage"]).input_value() == "triage"
    await click_and_render(
        m, m.get_by_role("button", name=ZH["views.delete_named"].format(name="初审积压"))
    )
    await m.get_by_text(ZH["views.none"]).wait_for()

    # The manager reads English as easily.
    await click_and_render(m, m.get_by_role("button", name="Switch to English"))
    assert await m.locator("main h1").inner_text() == EN["search.title"]
    assert await m.get_by_label(EN["col.stage"]).input_value() == "triage"
    await visit(m, "#/dashboard")
    assert await m.locator("main h1").inner_text() == EN["dash.title"]
    assert await m.locator(".kpi-label").first.inner_text() == EN["dash.open_claims"]
    await zhao.shot("22-manager-dashboard-in-english")


async def test_an_expired_or_altered_progress_link_says_so_plainly(
    admin: httpx.AsyncClient, person: Open, settings: Settings
):
    claim_id = (await open_claim(admin))["claim_id"]
    assert settings.auth_secret is not None
    secret = settings.auth_secret.get_secret_value()
    expired = make_token(secret, claim_id, datetime.now(UTC) - timedelta(minutes=1))
    wang = await person(viewport=PHONE, phone=True, path=f"#/progress/{expired}")
    page = wang.page
    await page.locator(".progress-page[data-error='410']").wait_for()
    assert await page.locator("h1").inner_text() == ZH["progress.expired_title"]
    assert await page.get_by_role("alert").inner_text() == ZH["progress.expired"]
    await wang.shot("20-progress-expired")

    good = make_token(secret, claim_id, datetime.now(UTC) + timedelta(days=1))
    altered = good[:-1] + ("A" if good[-1] != "A" else "B")
    await page.goto(page.url.split("#")[0] + f"#/progress/{altered}")
    await page.locator(".progress-page[data-error='404']").wait_for()
    assert await page.locator("h1").inner_text() == ZH["progress.invalid_title"]

    # The same words in English, at the press of one button.
    await page.get_by_role("button", name="Switch to English").click()
    await page.locator(".progress-page[data-error='404']").wait_for()
    assert await page.locator("h1").inner_text() == EN["progress.invalid_title"]
    assert await page.evaluate("document.documentElement.lang") == "en"
    await wang.shot("21-progress-altered-in-english")


async def test_signing_in_and_finding_the_work_by_keyboard_alone(
    admin: httpx.AsyncClient, person: Open
):
    await add_user(admin, CONSULTANT, "小高", "consultant")
    await open_claim(admin)
    gao = await person(path="#/signin")
    page = gao.page
    await page.locator("body[data-route='/signin']").wait_for()
    # The heading has the focus after each page change; the form follows it.
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.name") == "username"
    await page.keyboard.type(CONSULTANT)
    await page.keyboard.press("Tab")
    await page.keyboard.type("a wrong password")
    await page.keyboard.press("Enter")
    alert = page.locator("form .form-error")
    await alert.wait_for()
    assert await alert.inner_text() == ZH["signin.wrong"]
    assert await page.evaluate("document.activeElement.name") == "password"
    await page.keyboard.press("Control+A")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await page.locator("body[data-route='/inbox']").wait_for()
    # Tab from the heading to the first task of the inbox, Enter opens its form.
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == ZH["nav.new_claim"]
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == ZH["kind.triage"]
    await page.keyboard.press("Enter")
    await page.locator("form#task-form[data-kind='triage']").wait_for()
