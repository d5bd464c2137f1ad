// One claim: summary, policy, checklist, timeline, expected payout, and its open tasks.

import { api } from '../api.js';
import { t, tv, pick } from '../i18n.js';
import {
  h, field, formError, busy, showErrors, pageTitle, section, dl, money, yuan, percent, when,
  stageBadge, badge, flash, text,
} from '../ui.js';

export function canAct(user, task) {
  if (user.role === 'manager' || user.role === 'admin') return true;
  return task.assignee === user.user_id || (task.assignee === null && task.role === user.role);
}

export function docTitle(item) {
  return pick(item.title_zh, item.title_en);
}

export function checklistTable(items) {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'list checklist', 'aria-label': t('claim.checklist') },
      h('thead', {}, h('tr', {}, [t('col.document'), t('col.where'), t('col.status'), t('col.reason')].map((c) => h('th', { scope: 'col' }, c)))),
      h(
        'tbody',
        {},
        items.map((i) =>
          h(
            'tr',
            { dataset: { code: i.code, status: i.status } },
            h('th', { scope: 'row' }, docTitle(i)),
            h('td', {}, i.hospital_document ? t('doc.at_hospital') : t('doc.at_home')),
            h('td', {}, badge(`doc-${i.status}`, tv('doc_status', i.status))),
            h('td', {}, [i.rejection_reason, i.note].filter(Boolean).join(' · ')),
          ),
        ),
      ),
    ),
  );
}

export function payoutBlock(payout, opening) {
  const e = payout && payout.expected;
  if (!e && !(payout && payout.awarded)) return h('p', { class: 'muted' }, t('claim.no_payout_yet'));
  const social = opening.policyholder.has_social_security;
  return h(
    'div',
    { class: 'payout' },
    e
      ? dl([
          [t('payout.total'), yuan(e.total_expenses)],
          [t('payout.excluded'), yuan(e.excluded_total)],
          [t('payout.eligible'), yuan(e.eligible_expenses)],
          [t('payout.deductible'), yuan(e.deductible)],
          [t('payout.above'), yuan(e.above_deductible)],
          [t('payout.ratio'), `${percent(e.ratio)} (${social ? t('payout.with_ss') : t('payout.without_ss')})`],
          [t('payout.expected'), h('strong', { class: 'amount', dataset: { amount: e.payout } }, yuan(e.payout))],
          e.capped ? [t('payout.capped'), t('payout.capped_yes')] : null,
        ])
      : null,
    payout.awarded !== null && payout.awarded !== undefined
      ? dl([[t('payout.awarded'), h('strong', { class: 'amount awarded' }, yuan(payout.awarded))]])
      : null,
    payout.reconciliation && !payout.reconciliation.matches
      ? h('p', { class: 'warning' }, t('payout.mismatch', { diff: money(payout.reconciliation.difference) }))
      : null,
    payout.explanation_zh || payout.explanation_en
      ? h('pre', { class: 'explanation', lang: pick('zh-CN', 'en') }, pick(payout.explanation_zh, payout.explanation_en))
      : null,
  );
}

function timelineDetails(e) {
  const d = e.details || {};
  switch (e.action) {
    case 'stage_changed':
      return `${tv('stage', d.old)} → ${tv('stage', d.new)}`;
    case 'task_opened':
    case 'task_completed':
    case 'task_cancelled':
    case 'task_overdue':
    case 'task_reminded':
    case 'task_escalated':
      return [tv('kind', d.kind), d.assignee].filter(Boolean).join(' · ');
    case 'task_reassigned':
      return `${d.old ?? ''} → ${d.new ?? d.assignee ?? ''}`;
    case 'document_updated':
      return `${d.code}: ${tv('doc_status', d.old && d.old.status)} → ${tv('doc_status', d.new && d.new.status)}${d.new && d.new.rejection_reason ? ` (${d.new.rejection_reason})` : ''}`;
    case 'insurer_responded':
      return [tv('decision', d.decision), d.amount ? yuan(d.amount) : null].filter(Boolean).join(' · ');
    case 'payout_awarded':
    case 'expected_payout_computed':
      return yuan(d.new || d.expected);
    case 'hospital_trip':
      return [d.hospital, d.on].filter(Boolean).join(' · ');
    case 'dispatch_accepted':
      return d.visit_at ? when(d.visit_at) : '';
    case 'claim_closed':
      return tv('closure', d.closure);
    default:
      return '';
  }
}

function timelineList(entries) {
  return h(
    'ol',
    { class: 'timeline', reversed: true },
    entries
      .slice()
      .reverse()
      .map((e) =>
        h(
          'li',
          { dataset: { action: e.action } },
          h('time', { datetime: e.at }, when(e.at)),
          h('span', { class: 'actor' }, e.actor),
          h('span', { class: 'action' }, tv('action', e.action)),
          h('span', { class: 'details' }, timelineDetails(e)),
        ),
      ),
  );
}

function progressLinkForm(claimId) {
  const out = h('div', { class: 'link-out', 'aria-live': 'polite' });
  const form = h(
    'form',
    { class: 'form inline-form', novalidate: true, id: 'progress-link-form' },
    field('valid_days', t('link.valid_days'), { value: '14', attrs: { inputmode: 'numeric', size: 4 } }),
    formError(),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'secondary' }, t('link.create'))),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const days = text(form, 'valid_days');
    const done = busy(form);
    try {
      const link = await api(`/claims/${claimId}/progress-link`, {
        method: 'POST',
        body: { valid_days: days === null ? null : /^\d+$/.test(days) ? Number(days) : days },
      });
      done();
      const input = h('input', { type: 'text', readonly: true, value: link.url, id: 'progress-url', class: 'url' });
      out.replaceChildren(
        h('label', { for: 'progress-url' }, t('link.url', { until: when(link.expires_at) })),
        input,
        h(
          'button',
          {
            type: 'button',
            class: 'secondary',
            onclick: async () => {
              input.select();
              try {
                await navigator.clipboard.writeText(link.url);
                flash(t('link.copied'));
              } catch {
                flash(t('link.copy_by_hand'));
              }
            },
          },
          t('link.copy'),
        ),
      );
    } catch (err) {
      done();
      showErrors(form, err);
    }
  });
  return h('div', {}, h('p', { class: 'hint' }, t('link.lead')), form, out);
}

export function claimHeader(claim) {
  const o = claim.opening;
  return [
    h('p', { class: 'claim-meta' }, stageBadge(claim.stage), ' ', claim.claim_id, claim.closure ? [' · ', tv('closure', claim.closure)] : null,
      claim.stalled_since ? [' ', badge('overdue', t('claim.stalled'))] : null,
      claim.paused_since ? [' ', badge('paused', t('claim.paused'))] : null),
    h('p', { class: 'lead' }, `${tv('claim_type', o.incident.claim_type)} · ${o.incident.diagnosis || ''} · ${o.policyholder.city}`),
  ];
}

export async function claimPage({ params, user }) {
  const [claimId] = params;
  const [claim, timeline] = await Promise.all([
    api(`/claims/${claimId}`),
    api(`/claims/${claimId}/timeline`).catch(() => ({ entries: [] })),
  ]);
  const o = claim.opening;
  const p = o.policy;
  const hp = o.policyholder;
  const agent = claim.field_agent ? await api(`/field-agents/${claim.field_agent}`).catch(() => null) : null;
  const tasks = claim.tasks || [];
  const oversees = user.role === 'manager' || user.role === 'admin';

  const tasksBlock = tasks.length
    ? h(
        'ul',
        { class: 'open-tasks' },
        tasks.map((task) =>
          h(
            'li',
            { dataset: { kind: task.kind } },
            canAct(user, task)
              ? h('a', { class: 'button primary', href: `#/tasks/${task.task_id}` }, t('claim.handle', { task: tv('kind', task.kind) }))
              : h('span', {}, tv('kind', task.kind)),
            ' ',
            h('span', { class: 'muted' }, `${task.assignee || t('claim.unassigned')} · ${t('inbox.due_at', { at: when(task.due_at) })}`),
          ),
        ),
      )
    : h('p', { class: 'muted' }, t('claim.no_open_tasks'));

  return h(
    'div',
    { class: 'claim', dataset: { claim: claim.claim_id, stage: claim.stage } },
    pageTitle(`${hp.name}`, ...claimHeader(claim)),
    section(t('claim.open_tasks'), tasksBlock),
    h(
      'div',
      { class: 'grid' },
      section(
        t('claim.summary'),
        claim.summary ? h('pre', { class: 'summary', lang: 'en' }, claim.summary) : h('p', { class: 'muted' }, t('claim.summary_later')),
        dl([
          [t('field.policyholder_name'), hp.name],
          [t('field.age'), hp.age],
          [t('field.city'), hp.city],
          [t('field.phone'), hp.phone],
          [t('field.needs'), (hp.needs || []).map((n) => tv('need', n)).join('、')],
          [t('field.has_social_security'), hp.has_social_security ? t('common.yes') : t('common.no')],
          [t('field.occurred_on'), o.incident.occurred_on],
          [t('field.hospital'), o.incident.hospital],
          [t('field.description'), o.incident.description],
          [t('field.source'), `${tv('source', o.source)} (${o.opened_by})`],
          [t('field.consultant'), o.consultant],
        ]),
      ),
      section(
        t('claim.policy'),
        dl([
          [t('field.policy_number'), p.policy_number],
          [t('field.insurer'), p.insurer],
          [t('field.product'), p.product],
          [t('field.sum_insured'), yuan(p.sum_insured)],
          [t('field.deductible'), yuan(p.deductible)],
          [t('field.ratio_with'), percent(p.ratio_with_social_security)],
          [t('field.ratio_without'), percent(p.ratio_without_social_security)],
        ]),
        claim.triage
          ? dl([
              [t('triage.liability'), tv('liability', claim.triage.liability)],
              [t('triage.path'), claim.triage.path ? tv('path', claim.triage.path) : ''],
              [t('triage.services'), (claim.triage.assist_services || []).map((s) => tv('service', s)).join('、')],
              [t('triage.explanation'), claim.triage.explanation],
            ])
          : null,
        claim.field_agent
          ? dl([
              [t('claim.field_agent'), agent ? `${agent.name} (${claim.field_agent})${agent.phone ? ` · ${agent.phone}` : ''}` : claim.field_agent],
              [t('claim.visit_at'), when(claim.visit_at)],
            ])
          : null,
      ),
    ),
    section(
      t('claim.checklist'),
      claim.checklist && claim.checklist.length ? checklistTable(claim.checklist) : h('p', { class: 'muted' }, t('claim.checklist_later')),
      claim.hospital_trips && claim.hospital_trips.length
        ? h('ul', { class: 'trips' }, claim.hospital_trips.map((tr) => h('li', {}, t('claim.trip', { hospital: tr.hospital, on: tr.on, n: (tr.printed || []).length }))))
        : null,
    ),
    section(
      t('claim.payout'),
      claim.filing
        ? dl([
            [t('file.reference'), claim.filing.insurer_claim_reference],
            [t('file.filed_on'), claim.filing.filed_on],
          ])
        : null,
      payoutBlock(claim.payout || {}, o),
      claim.insurer_responses && claim.insurer_responses.length
        ? h(
            'ul',
            { class: 'responses' },
            claim.insurer_responses.map((r) =>
              h('li', {}, tv('decision', r.decision), r.amount ? ` · ${yuan(r.amount)}` : '', r.decided_on ? ` · ${r.decided_on}` : '', r.claim_report ? ` · ${r.claim_report}` : '', r.reason ? ` · ${r.reason}` : ''),
            ),
          )
        : null,
    ),
    user.role === 'consultant' || oversees ? section(t('link.title'), progressLinkForm(claim.claim_id)) : null,
    section(t('claim.timeline'), timeline.entries.length ? timelineList(timeline.entries) : h('p', { class: 'muted' }, t('claim.no_timeline'))),
  );
}
