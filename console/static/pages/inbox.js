// My tasks: a consultant's inbox (a table) and a field agent's day (cards, phone first).

import { api } from '../api.js';
import { t, tv } from '../i18n.js';
import { h, badge, when, dayOf, todayShanghai, pageTitle, stageBadge } from '../ui.js';

const PAGE = 50;

function dueCell(task) {
  if (!task.due_at) return h('span', { class: 'muted' }, t('inbox.no_due'));
  return h(
    'span',
    {},
    h('time', { datetime: task.due_at }, when(task.due_at)),
    task.overdue ? [' ', badge('overdue', t('inbox.overdue'))] : null,
  );
}

function priorityBadge(p) {
  return badge(`priority-${p}`, tv('priority', p));
}

function moreButton(shown, total, rerender, query) {
  if (shown >= total) return null;
  return h(
    'button',
    {
      type: 'button',
      class: 'secondary',
      onclick: () => {
        query.set('limit', String(Math.min(200, shown + PAGE)));
        location.hash = `#/inbox?${query}`;
      },
    },
    t('list.more', { shown, total }),
  );
}

function consultantInbox(data, query, user) {
  const rows = data.items.map((task) =>
    h(
      'tr',
      { class: task.overdue ? 'overdue' : null, dataset: { task: task.task_id, kind: task.kind } },
      h('td', {}, dueCell(task)),
      h('td', {}, priorityBadge(task.priority)),
      h('th', { scope: 'row' }, h('a', { href: `#/tasks/${task.task_id}` }, tv('kind', task.kind))),
      h('td', {}, tv('claim_type', task.claim_type)),
      h('td', {}, h('a', { href: `#/claims/${task.claim_id}` }, task.policyholder_name), h('br'), h('small', { class: 'muted' }, task.claim_id)),
      h('td', {}, task.city),
      h('td', {}, stageBadge(task.stage)),
    ),
  );
  const overdue = data.items.filter((x) => x.overdue).length;
  return h(
    'div',
    {},
    pageTitle(
      user.role === 'consultant' ? t('inbox.title') : t('inbox.title_manager'),
      user.role !== 'field_agent' ? h('a', { class: 'button primary', href: '#/claims/new' }, t('nav.new_claim')) : null,
    ),
    h('p', { class: 'lead' }, t('inbox.counts', { total: data.total, overdue })),
    data.items.length === 0
      ? h('p', { class: 'empty' }, t('inbox.empty'))
      : h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'list', 'aria-label': t('inbox.title') },
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                [t('col.due'), t('col.priority'), t('col.task'), t('col.claim_type'), t('col.policyholder'), t('col.city'), t('col.stage')].map((c) =>
                  h('th', { scope: 'col' }, c),
                ),
              ),
            ),
            h('tbody', {}, rows),
          ),
        ),
    moreButton(data.items.length, data.total, null, query),
  );
}

function agentCard(task) {
  return h(
    'li',
    { class: `task-card${task.overdue ? ' overdue' : ''}`, dataset: { task: task.task_id, kind: task.kind } },
    h(
      'a',
      { href: `#/tasks/${task.task_id}`, class: 'task-link' },
      h('span', { class: 'task-kind' }, tv('kind', task.kind)),
      h('span', { class: 'task-who' }, `${task.policyholder_name} · ${task.city}`),
      task.visit_at ? h('span', { class: 'task-visit' }, t('inbox.visit_at', { at: when(task.visit_at) })) : null,
      h('span', { class: 'task-due' }, task.due_at ? t('inbox.due_at', { at: when(task.due_at) }) : t('inbox.no_due'), task.overdue ? [' ', badge('overdue', t('inbox.overdue'))] : null),
    ),
  );
}

function agentInbox(data, query) {
  const today = todayShanghai();
  const isToday = (task) =>
    task.overdue || dayOf(task.due_at) <= today || dayOf(task.visit_at) === today;
  const now = data.items.filter(isToday);
  const later = data.items.filter((x) => !isToday(x));
  const list = (items, label, id) =>
    h(
      'section',
      { 'aria-labelledby': id, class: 'agent-day' },
      h('h2', { id }, label, ' ', h('span', { class: 'count' }, `(${items.length})`)),
      items.length ? h('ul', { class: 'task-cards' }, items.map(agentCard)) : h('p', { class: 'empty' }, t('inbox.nothing')),
    );
  return h(
    'div',
    { class: 'agent' },
    pageTitle(t('inbox.today_title', { date: today })),
    list(now, t('inbox.today'), 'today-h'),
    list(later, t('inbox.later'), 'later-h'),
    moreButton(data.items.length, data.total, null, query),
  );
}

export async function inboxPage({ user, query }) {
  const limit = Math.min(200, Number(query.get('limit')) || PAGE);
  const data = await api('/inbox', { query: { limit } });
  return user.role === 'field_agent' ? agentInbox(data, query) : consultantInbox(data, query, user);
}
