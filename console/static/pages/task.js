// One task and its form: every kind of human step, each completing with its outcome.

import { api } from '../api.js';
import { t, tv, pick } from '../i18n.js';
import {
  h, field, choices, formError, busy, showErrors, clearErrors, text, formValue, pageTitle, section, dl,
  when, todayShanghai, shanghaiInstant, flash, yuan, uid, badge,
} from '../ui.js';
import { canAct, checklistTable, claimHeader, docTitle, payoutBlock } from './claim.js';

const yesNo = (yes, no) => [
  { value: 'true', label: yes },
  { value: 'false', label: no },
];
const opts = (group, values) => values.map((v) => ({ value: v, label: tv(group, v) }));
const bool = (v) => (v === 'true' ? true : v === 'false' ? false : null);

const SERVICES = [
  'information_summary', 'initial_liability_judgment', 'speeding_up_timeline', 'help_for_elderly',
  'dispute_handling', 'rights_protection', 'risk_review', 'custom_service',
];
const DECISIONS = ['under_investigation', 'supplemental_documents_requested', 'approved', 'partially_approved', 'denied'];
const REASONS = ['reason.mixed_receipts', 'reason.medical_record_missing', 'reason.illegible_copy', 'reason.missing_stamp'];

function reasonList() {
  const id = uid('reasons');
  return { id, el: h('datalist', { id }, REASONS.map((k) => h('option', { value: t(k) }))) };
}

function toggle(el, visible) {
  el.hidden = !visible;
}

/** The form of one task; `build(form)` gives the outcome, `locate` maps odd error locations. */
function taskForm(ctx, { fields, build, submitLabel, locate, extraButtons = [] }) {
  const { task, user, go } = ctx;
  const form = h(
    'form',
    { class: 'form', novalidate: true, id: `task-form`, dataset: { kind: task.kind } },
    fields,
    formError(),
    h('div', { class: 'actions' }, ...extraButtons, h('button', { type: 'submit', class: 'primary', value: 'complete' }, submitLabel || t('task.complete'))),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (e.submitter && e.submitter.value !== 'complete') return; // other buttons have their own
    const done = busy(form);
    clearErrors(form);
    try {
      const outcome = { kind: task.kind, ...build(form) };
      const view = await api(`/tasks/${task.task_id}/complete`, {
        method: 'POST',
        body: { completed_by: user.user_id, outcome },
      });
      flash(t('task.done', { task: tv('kind', task.kind), stage: tv('stage', view.stage) }));
      go(user.role === 'field_agent' ? '#/inbox' : `#/claims/${task.claim_id}`);
    } catch (err) {
      done();
      showErrors(form, err, { tags: [task.kind], locate });
    }
  });
  return form;
}

// --- the forms, one per kind ---------------------------------------------------------------

function triageForm(ctx) {
  return taskForm(ctx, {
    fields: [
      choices('outcome.liability', t('triage.liability'), opts('liability', ['covered', 'not_covered', 'need_more_information'])),
      choices('outcome.path', t('triage.path'), opts('path', ['online', 'offline'])),
      field('outcome.meets_pre_audit', t('triage.meets_pre_audit'), { type: 'checkbox', hint: t('triage.meets_pre_audit_hint') }),
      choices('outcome.assist_services', t('triage.services'), opts('service', SERVICES), { multiple: true }),
      field('outcome.explanation', t('triage.explanation'), { type: 'textarea', wide: true, hint: t('triage.explanation_hint') }),
    ],
    build: (f) => ({
      liability: formValue(f, 'outcome.liability') || null,
      path: formValue(f, 'outcome.path') || null,
      meets_pre_audit: formValue(f, 'outcome.meets_pre_audit'),
      assist_services: formValue(f, 'outcome.assist_services'),
      explanation: text(f, 'outcome.explanation') ?? '',
    }),
  });
}

function assignAgentForm(ctx, agents) {
  return taskForm(ctx, {
    fields: [
      field('outcome.agent_id', t('assign.agent'), {
        type: 'select',
        options: [{ value: '', label: t('common.choose') }, ...agents.map((a) => ({ value: a.agent_id, label: `${a.name} (${a.agent_id}) · ${t('assign.load', { n: a.open_tasks })}` }))],
      }),
    ],
    build: (f) => ({ agent_id: text(f, 'outcome.agent_id') ?? '' }),
  });
}

function dispatchForm(ctx) {
  const tomorrow = `${todayShanghai(1)}T10:00`;
  const visit = field('outcome.visit_at', t('dispatch.visit_at'), { type: 'datetime-local', value: tomorrow });
  const reason = field('outcome.decline_reason', t('dispatch.decline_reason'), { type: 'textarea' });
  reason.hidden = true;
  const answer = choices('outcome.accepted', t('dispatch.answer'), yesNo(t('dispatch.accept'), t('dispatch.decline')), { value: 'true' });
  answer.addEventListener('change', (e) => {
    const accepted = e.target.value !== 'false';
    toggle(visit, accepted);
    toggle(reason, !accepted);
  });
  return taskForm(ctx, {
    fields: [answer, visit, reason],
    build: (f) => {
      const accepted = bool(formValue(f, 'outcome.accepted'));
      return {
        accepted,
        visit_at: accepted ? shanghaiInstant(text(f, 'outcome.visit_at')) : null,
        decline_reason: accepted ? null : text(f, 'outcome.decline_reason'),
      };
    },
    submitLabel: t('dispatch.submit'),
  });
}

/** The agent's checklist: each document ticked collected, or rejected with a reason. */
function gatherForm(ctx) {
  const { claim, task, user, rerender } = ctx;
  const pending = new Set(task.data.items || claim.checklist.map((i) => i.code));
  const sentBack = Object.fromEntries((task.data.sent_back || []).map((s) => [s.code, s]));
  const reasons = reasonList();
  const original = Object.fromEntries(claim.checklist.map((i) => [i.code, i]));

  const itemBlocks = claim.checklist.map((item) => {
    const reason = field(`reason.${item.code}`, t('gather.reason'), {
      value: item.rejection_reason || '',
      attrs: { list: reasons.id },
    });
    reason.hidden = item.status !== 'rejected';
    const statusGroup = choices(`status.${item.code}`, t('gather.status'), opts('doc_status', ['collected', 'rejected', 'missing']), { value: item.status });
    statusGroup.classList.add('doc-status');
    statusGroup.querySelector('legend').classList.add('sr-only');
    statusGroup.addEventListener('change', (e) => {
      toggle(reason, e.target.value === 'rejected');
      block.dataset.status = e.target.value;
      if (e.target.value === 'rejected') reason.querySelector('input').focus();
    });
    const block = h(
      'fieldset',
      { class: `doc-item${pending.has(item.code) ? '' : ' done'}`, dataset: { path: `item.${item.code}`, code: item.code, status: item.status } },
      h('legend', {}, docTitle(item), ' ', item.hospital_document ? badge('hospital', t('doc.at_hospital')) : null),
      sentBack[item.code] ? h('p', { class: 'warning' }, t('gather.sent_back', { reason: sentBack[item.code].rejection_reason || tv('doc_status', sentBack[item.code].status) })) : null,
      statusGroup,
      reason,
      h('p', { class: 'field-error', hidden: true }),
    );
    return block;
  });

  const hospitalDocs = claim.checklist.filter((i) => i.hospital_document);
  const tripFields = h(
    'div',
    { class: 'trip-fields', hidden: true },
    field('trip.hospital', t('gather.trip_hospital'), { value: claim.opening.incident.hospital || '' }),
    field('trip.on', t('gather.trip_on'), { type: 'date', value: todayShanghai() }),
    choices('trip.printed', t('gather.trip_printed'), hospitalDocs.map((i) => ({ value: i.code, label: docTitle(i) })), { multiple: true, inline: false }),
  );
  const tripToggle = field('trip.add', t('gather.trip_add'), { type: 'checkbox' });
  tripToggle.addEventListener('change', (e) => toggle(tripFields, e.target.checked));
  const trip = h('fieldset', { class: 'block trip', dataset: { path: 'trip' } }, h('legend', {}, t('gather.trip')), tripToggle, tripFields, h('p', { class: 'field-error', hidden: true }));

  let sent = [];
  const changes = (f) => {
    sent = [];
    for (const item of claim.checklist) {
      const status = formValue(f, `status.${item.code}`);
      const reasonText = text(f, `reason.${item.code}`);
      const was = original[item.code];
      if (status === was.status && (status !== 'rejected' || reasonText === was.rejection_reason)) continue;
      sent.push(status === 'rejected' ? { code: item.code, status, rejection_reason: reasonText ?? '' } : { code: item.code, status });
    }
    return sent;
  };
  const trips = (f) =>
    formValue(f, 'trip.add')
      ? [{ hospital: text(f, 'trip.hospital') ?? '', on: text(f, 'trip.on') ?? '', printed: formValue(f, 'trip.printed') }]
      : [];
  const locate = (parts) => {
    const p = parts[0] === 'outcome' ? parts.slice(1) : parts;
    const root = document.getElementById('task-form');
    if (p[0] === 'items' && sent[p[1]]) {
      const code = sent[p[1]].code;
      if (p[2] === 'rejection_reason') return root.querySelector(`[data-path="reason.${code}"]`);
      return root.querySelector(`[data-path="item.${code}"]`);
    }
    if (p[0] === 'hospital_trips') {
      return (p[2] && root.querySelector(`[data-path="trip.${p[2]}"]`)) || root.querySelector('[data-path="trip"]');
    }
    return null;
  };

  const save = h('button', { type: 'submit', class: 'secondary', value: 'save' }, t('gather.save'));
  const form = taskForm(ctx, {
    fields: [
      reasons.el,
      h('p', { class: 'hint' }, t('gather.lead', { n: pending.size })),
      h('div', { class: 'doc-items' }, itemBlocks),
      trip,
      field('outcome.note', t('field.note'), { type: 'textarea', wide: true }),
    ],
    build: (f) => ({ items: changes(f), hospital_trips: trips(f), note: text(f, 'outcome.note') ?? '' }),
    submitLabel: t('gather.submit'),
    locate,
    extraButtons: [save],
  });
  form.addEventListener('submit', async (e) => {
    if (!e.submitter || e.submitter.value !== 'save') return;
    e.preventDefault();
    const done = busy(form);
    clearErrors(form);
    try {
      await api(`/claims/${task.claim_id}/checklist`, {
        method: 'POST',
        body: { items: changes(form), hospital_trips: trips(form), recorded_by: user.user_id },
      });
      flash(t('gather.saved'));
      await rerender();
    } catch (err) {
      done();
      showErrors(form, err, { locate });
    }
  });
  return form;
}

function verifyForm(ctx) {
  const { claim, task } = ctx;
  const pending = new Set(task.data.items || claim.checklist.map((i) => i.code));
  const items = claim.checklist.filter((i) => pending.has(i.code));
  const backRows = items.map((i) => {
    const row = h(
      'fieldset',
      { class: 'back-item', dataset: { path: `back.${i.code}`, code: i.code } },
      h('legend', {}, docTitle(i)),
      field(`back.${i.code}.send`, t('verify.send_back'), { type: 'checkbox', value: i.status !== 'collected' }),
      field(`back.${i.code}.status`, t('gather.status'), { type: 'select', options: opts('doc_status', ['missing', 'rejected']), value: i.status === 'rejected' ? 'rejected' : 'missing' }),
      field(`back.${i.code}.rejection_reason`, t('gather.reason'), { value: i.rejection_reason || '' }),
    );
    return row;
  });
  const back = h('div', { class: 'send-back', hidden: true }, h('p', { class: 'hint' }, t('verify.back_lead')), backRows);
  const answer = choices('outcome.complete', t('verify.answer'), yesNo(t('verify.complete'), t('verify.incomplete')));
  answer.addEventListener('change', (e) => toggle(back, e.target.value === 'false'));
  let sent = [];
  return taskForm(ctx, {
    fields: [checklistTable(claim.checklist), answer, back, field('outcome.note', t('field.note'), { type: 'textarea', wide: true })],
    build: (f) => {
      const complete = bool(formValue(f, 'outcome.complete'));
      sent = complete === false
        ? items
            .filter((i) => formValue(f, `back.${i.code}.send`))
            .map((i) => {
              const status = formValue(f, `back.${i.code}.status`);
              return status === 'rejected'
                ? { code: i.code, status, rejection_reason: text(f, `back.${i.code}.rejection_reason`) ?? '' }
                : { code: i.code, status };
            })
        : [];
      return { complete, sent_back: sent, note: text(f, 'outcome.note') ?? '' };
    },
    locate: (parts) => {
      const p = parts[0] === 'outcome' ? parts.slice(1) : parts;
      if (p[0] === 'sent_back' && sent[p[1]]) {
        const root = document.getElementById('task-form');
        const code = sent[p[1]].code;
        return (p[2] && root.querySelector(`[data-path="back.${code}.${p[2]}"]`)) || root.querySelector(`[data-path="back.${code}"]`);
      }
      return null;
    },
  });
}

function confirmFilingForm(ctx) {
  return taskForm(ctx, {
    fields: [
      h('p', { class: 'read-out' }, t('confirm.read_out')),
      choices('outcome.confirmed', t('confirm.answer'), yesNo(t('confirm.yes'), t('confirm.no'))),
      field('outcome.note', t('field.note'), { type: 'textarea', wide: true }),
    ],
    build: (f) => ({ confirmed: bool(formValue(f, 'outcome.confirmed')), note: text(f, 'outcome.note') ?? '' }),
  });
}

function expenseRow(rows) {
  const id = uid('exp');
  const row = h(
    'fieldset',
    { class: 'expense', dataset: { row: id, path: `expense.${id}` } },
    h('legend', { class: 'sr-only' }, t('file.expense')),
    field(`expense.${id}.description`, t('file.description')),
    field(`expense.${id}.amount`, t('file.amount'), { attrs: { inputmode: 'decimal' } }),
    field(`expense.${id}.excluded_reason`, t('file.excluded_reason'), { hint: t('file.excluded_hint') }),
    h('button', { type: 'button', class: 'link-button remove', onclick: () => row.remove() }, t('file.remove')),
  );
  rows.append(row);
  return row;
}

function fileForm(ctx) {
  const rows = h('div', { class: 'expenses' });
  expenseRow(rows);
  let sent = [];
  return taskForm(ctx, {
    fields: [
      field('outcome.insurer_claim_reference', t('file.reference'), { required: true }),
      field('outcome.filed_on', t('file.filed_on'), { type: 'date', value: todayShanghai() }),
      h(
        'fieldset',
        { class: 'block', dataset: { path: 'outcome.expenses' } },
        h('legend', {}, t('file.expenses')),
        h('p', { class: 'hint' }, t('file.expenses_lead')),
        rows,
        h('button', { type: 'button', class: 'secondary', onclick: () => expenseRow(rows).querySelector('input').focus() }, t('file.add_expense')),
        h('p', { class: 'field-error', hidden: true }),
      ),
    ],
    build: (f) => {
      sent = Array.from(rows.querySelectorAll('.expense')).filter((r) =>
        ['description', 'amount', 'excluded_reason'].some((k) => text(f, `expense.${r.dataset.row}.${k}`) !== null),
      );
      return {
        insurer_claim_reference: text(f, 'outcome.insurer_claim_reference') ?? '',
        filed_on: text(f, 'outcome.filed_on') ?? '',
        expenses: sent.map((r) => ({
          description: text(f, `expense.${r.dataset.row}.description`) ?? '',
          amount: text(f, `expense.${r.dataset.row}.amount`) ?? '',
          excluded_reason: text(f, `expense.${r.dataset.row}.excluded_reason`),
        })),
      };
    },
    locate: (parts) => {
      if (parts[0] === 'outcome' && parts[1] === 'expenses' && sent[parts[2]]) {
        const r = sent[parts[2]];
        return (parts[3] && r.querySelector(`[data-path="expense.${r.dataset.row}.${parts[3]}"]`)) || r;
      }
      return null;
    },
  });
}

function readOut(title, body) {
  return h('section', { class: 'read-out-box', 'aria-label': title }, h('h2', {}, title), h('pre', { class: 'explanation big' }, body || ''));
}

function explainExpectationsForm(ctx) {
  const d = ctx.task.data || {};
  return taskForm(ctx, {
    fields: [
      readOut(t('explain.read_out'), pick(d.explanation_zh, d.explanation_en) || pick(ctx.claim.payout.explanation_zh, ctx.claim.payout.explanation_en)),
      field('outcome.note', t('field.note'), { type: 'textarea', wide: true }),
    ],
    build: (f) => ({ note: text(f, 'outcome.note') ?? '' }),
    submitLabel: t('explain.done'),
  });
}

function insurerForm(ctx) {
  const { claim, task } = ctx;
  const amount = field('outcome.amount', t('insurer.amount'), { attrs: { inputmode: 'decimal' }, hint: t('field.yuan_hint') });
  const decided = field('outcome.decided_on', t('insurer.decided_on'), { type: 'date' });
  const report = field('outcome.claim_report', t('insurer.claim_report'), { type: 'textarea', wide: true });
  const reason = field('outcome.reason', t('insurer.reason'), { type: 'textarea', wide: true });
  const docs = choices('outcome.requested_documents', t('insurer.requested'), claim.checklist.map((i) => ({ value: i.code, label: docTitle(i) })), { multiple: true, inline: false });
  const decision = field('outcome.decision', t('insurer.decision'), { type: 'select', options: opts('decision', DECISIONS) });
  const show = (d) => {
    const awarded = d === 'approved' || d === 'partially_approved';
    toggle(amount, awarded);
    toggle(report, awarded);
    toggle(decided, awarded || d === 'denied');
    toggle(reason, d === 'denied' || d === 'under_investigation' || d === 'partially_approved');
    toggle(docs, d === 'supplemental_documents_requested');
  };
  decision.querySelector('select').addEventListener('change', (e) => show(e.target.value));
  show(DECISIONS[0]);
  return taskForm(ctx, {
    fields: [
      dl([[t('file.reference'), task.data.insurer_claim_reference || (claim.filing && claim.filing.insurer_claim_reference)]]),
      decision, amount, decided, report, reason, docs,
    ],
    build: (f) => {
      const d = formValue(f, 'outcome.decision');
      const awarded = d === 'approved' || d === 'partially_approved';
      return {
        decision: d,
        requested_documents: d === 'supplemental_documents_requested' ? formValue(f, 'outcome.requested_documents') : [],
        amount: awarded ? text(f, 'outcome.amount') : null,
        claim_report: awarded ? text(f, 'outcome.claim_report') : null,
        decided_on: awarded || d === 'denied' ? text(f, 'outcome.decided_on') : null,
        reason: ['denied', 'under_investigation', 'partially_approved'].includes(d) ? text(f, 'outcome.reason') : null,
      };
    },
  });
}

function followUpForm(ctx) {
  return taskForm(ctx, {
    fields: [field('outcome.note', t('field.note'), { type: 'textarea', wide: true })],
    build: (f) => ({ note: text(f, 'outcome.note') ?? '' }),
  });
}

function explainOutcomeForm(ctx) {
  const d = ctx.task.data || {};
  return taskForm(ctx, {
    fields: [
      dl([
        [t('insurer.decision'), tv('decision', d.decision)],
        [t('payout.awarded'), ctx.claim.payout.awarded ? yuan(ctx.claim.payout.awarded) : ''],
        [t('insurer.claim_report'), d.claim_report],
        [t('insurer.reason'), d.reason],
      ]),
      readOut(t('explain.read_out_outcome'), pick(d.explanation_zh, d.explanation_en) || d.claim_report || d.reason),
      choices('outcome.user_accepts', t('outcome.answer'), yesNo(t('outcome.accepts'), t('outcome.contests'))),
      field('outcome.note', t('field.note'), { type: 'textarea', wide: true }),
    ],
    build: (f) => ({ user_accepts: bool(formValue(f, 'outcome.user_accepts')), note: text(f, 'outcome.note') ?? '' }),
  });
}

function disputeForm(ctx) {
  return taskForm(ctx, {
    fields: [
      field('outcome.resolution', t('dispute.resolution'), { type: 'select', options: opts('resolution', ['upheld', 'revised', 'dropped']) }),
      field('outcome.revised_amount', t('dispute.revised_amount'), { attrs: { inputmode: 'decimal' } }),
      field('outcome.note', t('field.note'), { type: 'textarea', wide: true }),
    ],
    build: (f) => ({
      resolution: formValue(f, 'outcome.resolution'),
      revised_amount: text(f, 'outcome.revised_amount'),
      note: text(f, 'outcome.note') ?? '',
    }),
  });
}

// --- the page ------------------------------------------------------------------------------

function contact(claim, agent) {
  const hp = claim.opening.policyholder;
  return dl([
    [t('field.policyholder_name'), `${hp.name}${hp.age ? ` · ${t('common.age', { n: hp.age })}` : ''}`],
    [t('field.phone'), hp.phone ? h('a', { href: `tel:${hp.phone}` }, hp.phone) : ''],
    [t('field.city'), hp.city],
    [t('field.needs'), (hp.needs || []).map((n) => tv('need', n)).join('、')],
    [t('claim.visit_at'), when(claim.visit_at)],
    [t('claim.field_agent'), agent],
  ]);
}

export async function taskPage(ctx) {
  const [taskId] = ctx.params;
  const task = await api(`/tasks/${taskId}`);
  const claim = await api(`/claims/${task.claim_id}`);
  const full = { ...ctx, task, claim };
  const title = pageTitle(tv('kind', task.kind), ...claimHeader(claim));
  const back = h('p', {}, h('a', { href: `#/claims/${claim.claim_id}` }, t('task.to_claim', { name: claim.opening.policyholder.name })));
  if (task.status !== 'open') {
    return h('div', {}, title, h('p', { class: 'lead' }, t('task.not_open', { status: tv('task_status', task.status) })), back);
  }
  if (!canAct(ctx.user, task)) {
    return h('div', {}, title, h('p', { class: 'lead' }, t('task.not_yours', { who: task.assignee || '' })), back);
  }
  const builders = {
    triage: triageForm,
    accept_dispatch: dispatchForm,
    gather_documents: gatherForm,
    verify_documents: verifyForm,
    confirm_filing: confirmFilingForm,
    file_claim: fileForm,
    explain_expectations: explainExpectationsForm,
    record_insurer_response: insurerForm,
    follow_up_insurer: followUpForm,
    explain_outcome: explainOutcomeForm,
    resolve_dispute: disputeForm,
  };
  let form;
  if (task.kind === 'assign_field_agent') {
    const agents = await api('/field-agents', { query: { city: task.data.city } });
    form = assignAgentForm(full, agents);
  } else {
    form = (builders[task.kind] || followUpForm)(full);
  }
  const context = [];
  if (['triage', 'verify_documents', 'file_claim', 'record_insurer_response', 'resolve_dispute'].includes(task.kind)) {
    context.push(section(t('claim.summary'), claim.summary ? h('pre', { class: 'summary', lang: 'en' }, claim.summary) : null, dl([
      [t('field.policy_number'), claim.opening.policy.policy_number],
      [t('field.insurer'), claim.opening.policy.insurer],
      [t('field.sum_insured'), yuan(claim.opening.policy.sum_insured)],
      [t('field.deductible'), yuan(claim.opening.policy.deductible)],
      [t('field.has_social_security'), claim.opening.policyholder.has_social_security ? t('common.yes') : t('common.no')],
      [t('field.description'), claim.opening.incident.description],
    ])));
  } else {
    context.push(section(t('task.visit'), contact(claim, claim.field_agent)));
  }
  if (task.kind === 'record_insurer_response' || task.kind === 'resolve_dispute') {
    context.push(section(t('claim.payout'), payoutBlock(claim.payout || {}, claim.opening)));
  }
  return h(
    'div',
    { class: `task task-${task.kind}`, dataset: { task: task.task_id, kind: task.kind } },
    title,
    h('p', { class: 'due' }, task.due_at ? t('inbox.due_at', { at: when(task.due_at) }) : ''),
    ...context,
    section(t('task.form'), form),
    back,
  );
}
