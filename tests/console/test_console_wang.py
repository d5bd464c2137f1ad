"""Mr. Wang's case done entirely through the console, in Chromium, against the real stack.

Xiao Gao (consultant, desktop), Xiao Zheng (field agent, on a phone) and manager Zhao each use
their own browser; Mr. Wang's progress page (no sign-in) is checked at every stage.
"""

from __future__ import annotations

import re
import time
from datetime import datetime

import httpx
from playwright.async_api import expect

from claimflow.reference_case import OPENING
from domain.vocabulary import SHANGHAI
from tests.support.claims import open_claim
from tests.console.support import PHONE, ZH, Open, Person, add_user, click_and_render, fill, visit

CONSULTANT, AGENT, MANAGER = "xiao.gao", "xiao.zheng", "manager.zhao"
COLLECTED = ("claim_application_form", "policy_contract", "id_card_copy", "bank_card_copy",
             "diagnosis_certificate", "discharge_summary", "itemised_expense_list")
REJECTED = {"medical_record": ZH["reason.medical_record_missing"],
            "payment_receipts": ZH["reason.mixed_receipts"]}


async def open_task(who: Person, kind: str) -> None:
    """From the inbox (consultant's table or agent's cards) to the task's form."""
    page = who.page
    await visit(page, "#/inbox")
    await page.locator(f"[data-kind='{kind}'] a").first.click()
    await page.locator(f"form#task-form[data-kind='{kind}']").wait_for()


async def submit_task(who: Person, label: str | None = None) -> None:
    page = who.page
    button = page.locator("form#task-form").get_by_role(
        "button", name=label or ZH["task.complete"], exact=True
    )
    await click_and_render(page, button)
    await page.locator("#flash.flash-ok").wait_for()
    assert "/tasks/" not in page.url


async def consultant_sees_stage(who: Person, claim_id: str, stage: str) -> None:
    await who.page.locator(f".claim[data-claim='{claim_id}'][data-stage='{stage}']").wait_for()


class ProgressPage:
    """Mr. Wang's phone, on the link Xiao Gao sent him."""

    def __init__(self, who: Person, url: str):
        self.who, self.url = who, url

    async def shows(self, stage: str, shot: str | None = None) -> str:
        page = self.who.page
        await page.goto("about:blank")
        await page.goto(self.url)
        root = page.locator(f".progress-page[data-stage='{stage}']")
        await root.wait_for()
        if shot:
            await self.who.shot(shot)
        return await root.inner_text()


async def test_mr_wang_through_the_console(admin: httpx.AsyncClient, person: Open, live_server):
    started = time.monotonic()
    for user_id, name, role, city in (
        (CONSULTANT, "小高", "consultant", None),
        (AGENT, "小郑", "field_agent", "Beijing"),
        (MANAGER, "赵经理", "manager", None),
    ):
        await add_user(admin, user_id, name, role, city)
    r = await admin.put(f"/field-agents/{AGENT}",
                        json={"name": "小郑", "city": "Beijing", "phone": "13800138000"})
    assert r.status_code == 200, r.text

    # --- discovery: Xiao Gao opens the case the return visit found --------------------------
    gao = await person(CONSULTANT)
    g = gao.page
    assert await g.locator("main h1").inner_text() == ZH["inbox.title"]
    await gao.shot("01-consultant-inbox-empty")
    await g.get_by_role("link", name=ZH["nav.new_claim"]).first.click()
    await g.locator("body[data-route='/claims/new']").wait_for()
    holder, policy, incident = OPENING["policyholder"], OPENING["policy"], OPENING["incident"]
    await fill(g, ZH["field.policyholder_name"], holder["name"])
    await fill(g, ZH["field.city"], holder["city"])
    await fill(g, ZH["field.phone"], "13900000000")
    await fill(g, ZH["field.age"], str(holder["age"]))
    for need in holder["needs"]:
        await g.get_by_label(ZH[f"need.{need}"], exact=True).check()
    await fill(g, ZH["field.policy_number"], policy["policy_number"])
    await fill(g, ZH["field.insurer"], policy["insurer"])
    await fill(g, ZH["field.product"], policy["product"])
    await fill(g, ZH["field.sum_insured"], policy["sum_insured"])
    await fill(g, ZH["field.deductible"], policy["deductible"])
    await g.get_by_label(ZH["field.claim_type"]).select_option("medical_reimbursement")
    await fill(g, ZH["field.diagnosis"], incident["diagnosis"])
    await fill(g, ZH["field.occurred_on"], incident["occurred_on"])
    await fill(g, ZH["field.hospital"], incident["hospital"])
    await fill(g, ZH["field.description"], incident["description"])
    await g.get_by_label(ZH["field.source"]).select_option("return_visit")
    await fill(g, ZH["field.opened_by"], "return-visit/li")
    await gao.shot("02-consultant-new-claim")
    await g.get_by_role("button", name=ZH["new.submit"]).click()
    await g.wait_for_url(re.compile(r"#/claims/CLM-[0-9A-F]+$"))
    claim_id = g.url.rsplit("/", 1)[1]
    await consultant_sees_stage(gao, claim_id, "triage")

    # The progress link for Mr. Wang, from the claim page.
    await g.get_by_role("button", name=ZH["link.create"]).click()
    url = await g.locator("#progress-url").input_value()
    assert f"/console/#/progress/{claim_id}." in url
    wang = ProgressPage(await person(viewport=PHONE, phone=True), url)
    text = await wang.shows("triage", "03-progress-triage")
    assert "我们已经收到您的理赔" in text
    assert holder["name"] not in text and policy["policy_number"] not in text

    # --- online triage ------------------------------------------------------------------------
    await open_task(gao, "triage")
    await g.get_by_label(ZH["liability.covered"], exact=True).check()
    await g.get_by_label(ZH["path.offline"], exact=True).check()
    await g.get_by_label(ZH["triage.meets_pre_audit"]).check()
    for service in ("information_summary", "initial_liability_judgment", "help_for_elderly",
                    "speeding_up_timeline"):
        await g.get_by_label(ZH[f"service.{service}"], exact=True).check()
    await fill(g, ZH["triage.explanation"], "脑梗住院治疗属于保单保障范围。")
    await gao.shot("04-consultant-triage")
    await submit_task(gao)
    await consultant_sees_stage(gao, claim_id, "dispatch")
    assert "安排工作人员上门" in await wang.shows("dispatch")

    # --- Xiao Zheng, on his phone, accepts the visit --------------------------------------------
    zheng = await person(AGENT, viewport=PHONE, phone=True)
    z = zheng.page
    assert (await z.locator("main h1").inner_text()).startswith(ZH["nav.today"])
    await z.locator("[data-kind='accept_dispatch']").wait_for()
    await zheng.shot("05-agent-today")
    await open_task(zheng, "accept_dispatch")
    await zheng.shot("06-agent-accept-dispatch")
    await submit_task(zheng, ZH["dispatch.submit"])

    # --- the home visit: the checklist, item by item -------------------------------------------
    await open_task(zheng, "gather_documents")
    for code in COLLECTED:
        await z.locator(f"fieldset[data-code='{code}']").get_by_label(
            ZH["doc_status.collected"], exact=True).check()
    for code, reason in REJECTED.items():
        item = z.locator(f"fieldset[data-code='{code}']")
        await item.get_by_label(ZH["doc_status.rejected"], exact=True).check()
        await item.get_by_label(ZH["gather.reason"]).fill(reason)
    await zheng.shot("07-agent-checklist")
    await click_and_render(z, z.get_by_role("button", name=ZH["gather.save"]))
    await z.locator("#flash.flash-ok").wait_for()
    await z.locator("fieldset[data-code='payment_receipts'][data-status='rejected']").wait_for()
    text = await wang.shows("document_gathering", "08-progress-documents")
    assert "病历" in text and "医疗费用发票" in text and ZH["reason.mixed_receipts"] in text
    assert "保险合同" not in text  # collected: nothing more to bring
    assert "小郑" in text and "13800138000" in text

    # The hospital trip: both printed at Jishuitan, then the set goes to Xiao Gao.
    for code in REJECTED:
        await z.locator(f"fieldset[data-code='{code}']").get_by_label(
            ZH["doc_status.collected"], exact=True).check()
    await z.get_by_label(ZH["gather.trip_add"]).check()
    assert await z.get_by_label(ZH["gather.trip_hospital"], exact=True).input_value() == incident["hospital"]
    trip = z.locator("fieldset.trip")
    await trip.get_by_label(ZH["doc.medical_record"], exact=True).check()
    await trip.get_by_label(ZH["doc.payment_receipts"], exact=True).check()
    await fill(z, ZH["field.note"], "在积水潭医院打印了病历和发票。")
    await zheng.shot("09-agent-hospital-trip")
    await submit_task(zheng, ZH["gather.submit"])
    assert "正在检查是否齐全" in await wang.shows("verification")

    # --- Xiao Gao verifies; Mr. Wang agrees through Xiao Zheng; Xiao Gao files ---------------
    await visit(g, "#/inbox")
    row = g.locator("tr[data-kind='verify_documents']")
    assert ZH["claim_type.medical_reimbursement"] in await row.inner_text()
    await gao.shot("09b-consultant-inbox")
    await open_task(gao, "verify_documents")
    await g.get_by_label(ZH["verify.complete"], exact=True).check()
    await submit_task(gao)
    await consultant_sees_stage(gao, claim_id, "filing")

    await open_task(zheng, "confirm_filing")
    await z.get_by_label(ZH["confirm.yes"], exact=True).check()
    await fill(z, ZH["field.note"], "王先生在家中同意。")
    await submit_task(zheng)
    assert "替您向保险公司提交" in await wang.shows("filing")

    await open_task(gao, "file_claim")
    await fill(g, ZH["file.reference"], "EL-CONSOLE-1")
    expenses = [("积水潭医院住院治疗", "160333.33", ""), ("康复治疗", "8000.00", ""),
                ("进口药（不在药品目录）", "4200.00", "不在保单药品目录内")]
    for n, (what, amount, excluded) in enumerate(expenses):
        if n:
            await g.get_by_role("button", name=ZH["file.add_expense"]).click()
        row = g.locator(".expense").nth(n)
        await row.get_by_label(ZH["file.description"]).fill(what)
        await row.get_by_label(ZH["file.amount"]).fill(amount)
        await row.get_by_label(ZH["file.excluded_reason"]).fill(excluded)
    await gao.shot("10-consultant-file-claim")
    await submit_task(gao)
    await consultant_sees_stage(gao, claim_id, "pre_decision_explanation")
    assert await g.locator("[data-amount='95000.00']").inner_text() == "95,000.00 元"
    await gao.shot("11-consultant-claim-detail")

    # --- while waiting: Xiao Zheng explains what to expect ----------------------------------
    await open_task(zheng, "explain_expectations")
    said = await z.locator(".read-out-box").inner_text()
    assert "您无社保，赔付比例为 60%" in said and "95,000.00" in said
    await zheng.shot("12-agent-explain-expectations")
    await submit_task(zheng, ZH["explain.done"])
    text = await wang.shows("insurer_review")
    assert "保险公司正在审核" in text and "预计赔付 95,000.00 元" in text

    # --- the insurer investigates, then pays 95,000.00 -------------------------------------
    await open_task(gao, "record_insurer_response")
    await g.get_by_label(ZH["insurer.decision"]).select_option("under_investigation")
    await submit_task(gao)
    await consultant_sees_stage(gao, claim_id, "insurer_review")
    await open_task(gao, "record_insurer_response")
    await g.get_by_label(ZH["insurer.decision"]).select_option("approved")
    await fill(g, ZH["insurer.amount"], "95000.00")
    # Not before the filing, which is dated today.
    await fill(g, ZH["insurer.decided_on"], datetime.now(SHANGHAI).date().isoformat())
    await fill(g, ZH["insurer.claim_report"],
               "可报销 168,333.33 元，免赔额 10,000.00 元，赔付比例 60%：95,000.00 元。")
    await gao.shot("13-consultant-insurer-response")
    await submit_task(gao)
    await consultant_sees_stage(gao, claim_id, "payout_explanation")

    # --- Xiao Zheng explains the claim report; the case closes --------------------------------
    await open_task(zheng, "explain_outcome")
    assert "（168,333.33 - 10,000.00）× 60%" in await z.locator(".read-out-box").inner_text()
    await zheng.shot("14-agent-explain-payout")
    await z.get_by_label(ZH["outcome.accepts"], exact=True).check()
    await submit_task(zheng)
    text = await wang.shows("closed", "15-progress-paid")
    assert "保险公司已经赔付" in text and "保险公司赔付 95,000.00 元" in text

    await visit(g, f"#/claims/{claim_id}")
    await consultant_sees_stage(gao, claim_id, "closed")
    actions = await g.locator(".timeline li").evaluate_all("els => els.map(e => e.dataset.action)")
    assert "hospital_trip" in actions and "payout_awarded" in actions

    # --- manager Zhao: the dashboard and the claim in search ---------------------------------
    # Two more cases came in meanwhile, so the dashboard has open claims to show.
    await open_claim(admin, policyholder={"name": "Mr. Zhang", "city": "Beijing", "age": 81})
    await open_claim(admin, policyholder={"name": "Ms. Li", "city": "Wuhan"}, source="hotline")
    zhao = await person(MANAGER)
    m = zhao.page
    assert await m.locator("main h1").inner_text() == ZH["dash.title"]
    assert await m.locator(".kpi").first.locator(".kpi-value").inner_text() == "2"
    await expect(m.locator("table.bars th", has_text="Wuhan")).to_have_count(1)
    await zhao.shot("16-manager-dashboard")
    await m.get_by_role("link", name=ZH["nav.search"]).click()
    await m.locator("body[data-route='/search']").wait_for()
    await fill(m, ZH["search.q"], "wang")
    await click_and_render(m, m.get_by_role("button", name=ZH["search.submit"], exact=True))
    await m.locator(f"tr[data-claim='{claim_id}']").wait_for()
    assert "search?q=wang" in m.url
    await zhao.shot("17-manager-search")

    # The whole case in the browser: well within the suite's budget.
    assert time.monotonic() - started < 150
