// The manager's claim search (the filters of GET /claims), bulk reassignment of the tasks it
// finds, and the team's saved views.

import { api } from '../api.js';
import { t, tv } from '../i18n.js';
import { h, field, formError, busy, showErrors, clearErrors, text, pageTitle, section, when, stageBadge, badge, flash, uid } from '../ui.js';

const STAGES = ['triage', 'dispatch', 'document_gathering', 'verification', 'filing', 'pre_decision_explanation', 'insurer_review', 'payout_explanation', 'dispute', 'closed'];
const FILTERS = ['q', 'stage', 'status', 'city', 'consultant', 'field_agent', 'source', 'claim_type', 'overdue', 'stalled', 'created_from', 'created_to', 'updated_from', 'updated_to', 'sort', 'order', 'limit'];
const RANGES = ['created_from', 'created_to', 'updated_from', 'updated_to'];
const TEAM = 'claimflow.team';

const any = () => ({ value: '', label: t('search.any') });
const opts = (group, values) => [any(), ...values.map((v) => ({ value: v, label: tv(group, v) }))];
const yesNoAny = () => [any(), { value: 'true', label: t('common.yes') }, { value: 'false', label: t('common.no') }];

/** The filters of the hash's query as the API takes them (dates as Asia/Shanghai days). */
function filtersOf(query) {
  const f = {};
  for (const k of FILTERS) {
    const v = query.get(k);
    if (v === null || v === '') continue;
    f[k] = RANGES.includes(k) && /^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00+08:00` : v;
  }
  return f;
}

/** The same filters typed for a saved view (booleans as booleans, no page size). */
function viewFilters(query) {
  const f = filtersOf(query);
  delete f.limit;
  delete f.cursor;
  for (const k of ['overdue', 'stalled']) if (k in f) f[k] = f[k] === 'true';
  return f;
}

function filterForm(query) {
  const v = (k) => query.get(k) ?? '';
  const form = h(
    'form',
    { class: 'form filters', novalidate: true, id: 'search-form', role: 'search' },
    field('q', t('search.q'), { value: v('q'), hint: t('search.q_hint') }),
    field('stage', t('col.stage'), { type: 'select', options: opts('stage', STAGES), value: v('stage') }),
    field('status', t('search.status'), { type: 'select', options: opts('claim_status', ['open', 'closed']), value: v('status') }),
    field('city', t('field.city'), { value: v('city') }),
    field('consultant', t('field.consultant'), { value: v('consultant') }),
    field('field_agent', t('claim.field_agent'), { value: v('field_agent') }),
    field('source', t('field.source'), { type: 'select', options: opts('source', ['return_visit', 'hotline', 'self_report']), value: v('source') }),
    field('claim_type', t('field.claim_type'), { type: 'select', options: opts('claim_type', ['medical_reimbursement', 'critical_illness', 'hospitalization_allowance', 'accident']), value: v('claim_type') }),
    field('overdue', t('search.overdue'), { type: 'select', options: yesNoAny(), value: v('overdue') }),
    field('stalled', t('search.stalled'), { type: 'select', options: yesNoAny(), value: v('stalled') }),
    field('created_from', t('search.created_from'), { type: 'date', value: v('created_from').slice(0, 10) }),
    field('created_to', t('search.created_to'), { type: 'date', value: v('created_to').slice(0, 10) }),
    field('updated_from', t('search.updated_from'), { type: 'date', value: v('updated_from').slice(0, 10) }),
    field('updated_to', t('search.updated_to'), { type: 'date', value: v('updated_to').slice(0, 10) }),
    field('sort', t('search.sort'), { type: 'select', options: [{ value: 'created_at', label: t('search.sort_created') }, { value: 'updated_at', label: t('search.sort_updated') }], value: v('sort') }),
    field('order', t('search.order'), { type: 'select', options: [{ value: 'desc', label: t('search.desc') }, { value: 'asc', label: t('search.asc') }], value: v('order') }),
    formError(),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, t('search.submit')), h('a', { href: '#/search', class: 'button secondary' }, t('search.reset'))),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const k of FILTERS) {
      const value = text(form, k);
      if (value !== null && value !== undefined) q.set(k, value);
    }
    location.hash = `#/search?${q}`;
  });
  return form;
}

function resultsTable(page) {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'list results', 'aria-label': t('search.results') },
      h('thead', {}, h('tr', {}, [t('col.policyholder'), t('col.claim_type'), t('col.city'), t('col.stage'), t('field.consultant'), t('claim.field_agent'), t('search.updated'), t('search.open_tasks')].map((c) => h('th', { scope: 'col' }, c)))),
      h(
        'tbody',
        {},
        page.items.map((c) =>
          h(
            'tr',
            { dataset: { claim: c.claim_id } },
            h('th', { scope: 'row' }, h('a', { href: `#/claims/${c.claim_id}` }, c.policyholder_name), h('br'), h('small', { class: 'muted' }, `${c.claim_id} · ${c.policy_number}`)),
            h('td', {}, tv('claim_type', c.claim_type)),
            h('td', {}, c.city),
            h('td', {}, stageBadge(c.stage), c.stalled ? [' ', badge('overdue', t('claim.stalled'))] : null),
            h('td', {}, c.consultant),
            h('td', {}, c.field_agent || ''),
            h('td', {}, when(c.updated_at)),
            h(
              'td',
              {},
              (c.open_tasks || []).map((task) => {
                const id = uid('pick');
                const late = task.overdue;
                return h(
                  'div',
                  { class: 'pick' },
                  h('input', { type: 'checkbox', id, name: 'task_ids', value: task.task_id, form: 'bulk-form' }),
                  h('label', { for: id }, `${tv('kind', task.kind)} · ${task.assignee || t('claim.unassigned')}`, late ? [' ', badge('overdue', t('inbox.overdue'))] : null),
                );
              }),
            ),
          ),
        ),
      ),
    ),
  );
}

function bulkForm(user, rerender) {
  const form = h(
    'form',
    { class: 'form inline-form', novalidate: true, id: 'bulk-form' },
    h('p', { class: 'hint' }, t('bulk.lead')),
    h('div', { dataset: { path: 'task_ids' }, class: 'field wide' }, h('p', { class: 'field-error', hidden: true })),
    field('assignee', t('bulk.assignee'), { required: true }),
    field('reason', t('bulk.reason')),
    formError(),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, t('bulk.submit'))),
    h('div', { class: 'bulk-result', 'aria-live': 'polite' }),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const ids = Array.from(document.querySelectorAll('input[name="task_ids"]:checked')).map((i) => i.value);
    const done = busy(form);
    clearErrors(form);
    try {
      const result = await api('/tasks/bulk-reassign', {
        method: 'POST',
        body: { task_ids: ids, assignee: text(form, 'assignee') ?? '', reason: text(form, 'reason') ?? '', reassigned_by: user.user_id },
      });
      done();
      const failed = result.items.filter((i) => i.status !== 200);
      flash(t('bulk.moved', { n: result.moved, total: result.items.length }), failed.length ? 'error' : 'ok');
      if (failed.length) {
        form.querySelector('.bulk-result').replaceChildren(h('ul', {}, failed.map((i) => h('li', {}, `${i.task_id}: ${i.detail || i.status}`))));
      } else {
        await rerender();
      }
    } catch (err) {
      done();
      showErrors(form, err);
    }
  });
  return form;
}

async function viewsBlock(user, query, rerender) {
  const team = localStorage.getItem(TEAM) || 'claims-team';
  const views = await api('/views', { query: { team } }).catch(() => ({ items: [] }));
  const list = views.items.length
    ? h(
        'ul',
        { class: 'views' },
        views.items.map((v) => {
          const q = new URLSearchParams();
          for (const [k, val] of Object.entries(v.filters)) {
            if (val === null || val === undefined) continue;
            q.set(k, RANGES.includes(k) ? String(val).slice(0, 10) : String(val));
          }
          return h(
            'li',
            { dataset: { view: v.view_id } },
            h('a', { href: `#/search?${q}` }, v.name),
            h('small', { class: 'muted' }, ` · ${v.created_by}`),
            ' ',
            h(
              'button',
              {
                type: 'button',
                class: 'link-button',
                'aria-label': t('views.delete_named', { name: v.name }),
                onclick: async () => {
                  await api(`/views/${v.view_id}`, { method: 'DELETE' });
                  flash(t('views.deleted', { name: v.name }));
                  await rerender();
                },
              },
              t('views.delete'),
            ),
          );
        }),
      )
    : h('p', { class: 'muted' }, t('views.none'));
  const form = h(
    'form',
    { class: 'form inline-form', novalidate: true, id: 'view-form' },
    field('team', t('views.team'), { value: team }),
    field('name', t('views.name'), { required: true }),
    formError(),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'secondary' }, t('views.save'))),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const done = busy(form);
    const chosenTeam = text(form, 'team') ?? '';
    try {
      await api('/views', {
        method: 'POST',
        body: { team: chosenTeam, name: text(form, 'name') ?? '', filters: viewFilters(query), created_by: user.user_id },
      });
      if (chosenTeam) localStorage.setItem(TEAM, chosenTeam);
      flash(t('views.saved'));
      await rerender();
    } catch (err) {
      done();
      showErrors(form, err, {
        // A filter the view cannot keep is shown at its field in the search form.
        locate: (parts) => (parts[0] === 'filters' && parts[1] ? document.querySelector(`#search-form [data-path="${CSS.escape(parts[1])}"]`) : null),
      });
    }
  });
  return h('div', {}, h('h3', {}, t('views.of_team', { team })), list, h('h3', {}, t('views.save_current')), form);
}

export async function searchPage({ query, user, rerender }) {
  const filters = filtersOf(query);
  if (!filters.limit) filters.limit = '25';
  const cursor = query.get('cursor');
  const form = filterForm(query);
  let results;
  try {
    const page = await api('/claims', { query: { ...filters, cursor } });
    const next = new URLSearchParams(query);
    if (page.next_cursor) next.set('cursor', page.next_cursor);
    results = h(
      'div',
      {},
      h('p', { class: 'lead', role: 'status' }, t('search.found', { total: page.total, shown: page.items.length })),
      page.items.length ? resultsTable(page) : h('p', { class: 'empty' }, t('search.nothing')),
      h(
        'div',
        { class: 'pager' },
        cursor ? h('button', { type: 'button', class: 'secondary', onclick: () => history.back() }, t('search.previous')) : null,
        page.next_cursor ? h('a', { class: 'button secondary', href: `#/search?${next}` }, t('search.next')) : null,
      ),
    );
  } catch (err) {
    results = h('p', {}, '');
    showErrors(form, err);
  }
  return h(
    'div',
    { class: 'search' },
    pageTitle(t('search.title')),
    section(t('search.filters'), form),
    section(t('search.results'), results),
    h('div', { class: 'grid' }, section(t('bulk.title'), bulkForm(user, rerender)), section(t('views.title'), await viewsBlock(user, query, rerender))),
  );
}
