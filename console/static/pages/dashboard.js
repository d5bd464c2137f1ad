// The manager's dashboard: the load now (stage, city, overdue, stalled) and the range's
// throughput (cycle times, SLA attainment, claims opened and closed per day).

import { api } from '../api.js';
import { t, tv } from '../i18n.js';
import { h, pageTitle, section, yuan, duration, when, badge } from '../ui.js';

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children.flat(Infinity)) if (c) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** Horizontal bars, each a link; the numbers are text, so they read without the picture. */
function bars(rows, { label, value, href, max, format = String, caption }) {
  const top = max ?? Math.max(1, ...rows.map(value));
  if (!rows.length) return h('p', { class: 'muted' }, t('dash.none'));
  return h(
    'table',
    { class: 'bars' },
    caption ? h('caption', { class: 'sr-only' }, caption) : null,
    h(
      'tbody',
      {},
      rows.map((r) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, href ? h('a', { href: href(r) }, label(r)) : label(r)),
          h('td', { class: 'bar-cell' }, h('span', { class: 'bar', style: `width:${Math.max(2, (100 * value(r)) / top)}%`, 'aria-hidden': 'true' })),
          h('td', { class: 'num' }, format(value(r))),
        ),
      ),
    ),
  );
}

function dayChart(days) {
  if (!days.length) return h('p', { class: 'muted' }, t('dash.none'));
  const w = 640;
  const hgt = 160;
  const pad = 24;
  const top = Math.max(1, ...days.map((d) => Math.max(d.claims_opened, d.claims_closed)));
  const step = (w - pad * 2) / days.length;
  const bw = Math.max(1, step / 2 - 1);
  const y = (n) => hgt - pad - ((hgt - pad * 2) * n) / top;
  const chart = svg(
    'svg',
    { viewBox: `0 0 ${w} ${hgt}`, role: 'img', 'aria-label': t('dash.days_chart', { n: days.length }), class: 'chart' },
    svg('line', { x1: pad, y1: hgt - pad, x2: w - pad, y2: hgt - pad, class: 'axis' }),
    svg('text', { x: 2, y: pad, class: 'tick' }, String(top)),
    days.map((d, i) => [
      svg('rect', { x: pad + i * step, y: y(d.claims_opened), width: bw, height: hgt - pad - y(d.claims_opened), class: 'opened' },
        svg('title', {}, `${d.day}: ${t('dash.opened')} ${d.claims_opened}`)),
      svg('rect', { x: pad + i * step + bw + 1, y: y(d.claims_closed), width: bw, height: hgt - pad - y(d.claims_closed), class: 'closed' },
        svg('title', {}, `${d.day}: ${t('dash.closed')} ${d.claims_closed}`)),
    ]),
    svg('text', { x: pad, y: hgt - 4, class: 'tick' }, days[0].day),
    svg('text', { x: w - pad, y: hgt - 4, class: 'tick', 'text-anchor': 'end' }, days[days.length - 1].day),
  );
  const totals = days.reduce((a, d) => ({ o: a.o + d.claims_opened, c: a.c + d.claims_closed, t: a.t + d.tasks_completed }), { o: 0, c: 0, t: 0 });
  return h(
    'div',
    {},
    chart,
    h('p', { class: 'legend' }, h('span', { class: 'key opened' }), t('dash.opened'), ` ${totals.o}  `, h('span', { class: 'key closed' }), t('dash.closed'), ` ${totals.c}  · ${t('dash.tasks_completed')} ${totals.t}`),
  );
}

function kpi(label, value, href, kind) {
  return h('a', { class: `kpi${kind ? ` kpi-${kind}` : ''}`, href }, h('span', { class: 'kpi-value' }, String(value)), h('span', { class: 'kpi-label' }, label));
}

export async function dashboardPage({ query }) {
  const days = [7, 30, 90].includes(Number(query.get('days'))) ? Number(query.get('days')) : 30;
  const to = new Date();
  const from = new Date(to.getTime() - days * 86400000);
  const [f, inbox] = await Promise.all([
    api('/figures', { query: { from: from.toISOString(), to: to.toISOString() } }),
    api('/inbox', { query: { limit: 10 } }),
  ]);
  const open = f.open_by_stage.reduce((n, s) => n + s.open_claims, 0);
  const range = h(
    'nav',
    { class: 'range', 'aria-label': t('dash.range') },
    [7, 30, 90].map((d) => h('a', { href: `#/dashboard?days=${d}`, 'aria-current': d === days ? 'true' : null, class: 'chip' }, t('dash.last_days', { n: d }))),
  );
  return h(
    'div',
    { class: 'dashboard' },
    pageTitle(t('dash.title'), range),
    h(
      'div',
      { class: 'kpis' },
      kpi(t('dash.open_claims'), open, '#/search?status=open'),
      kpi(t('dash.overdue'), f.overdue_tasks, '#/search?overdue=true', f.overdue_tasks ? 'alert' : null),
      kpi(t('dash.stalled'), f.stalled_claims, '#/search?stalled=true', f.stalled_claims ? 'alert' : null),
      kpi(t('dash.paid', { n: f.payouts.claims }), yuan(f.payouts.amount), '#/search?status=closed'),
    ),
    h(
      'div',
      { class: 'grid' },
      section(
        t('dash.by_stage'),
        bars(f.open_by_stage, {
          label: (r) => tv('stage', r.stage),
          value: (r) => r.open_claims,
          href: (r) => `#/search?stage=${r.stage}`,
          caption: t('dash.by_stage'),
        }),
      ),
      section(
        t('dash.by_city'),
        bars(f.open_by_city, {
          label: (r) => r.city,
          value: (r) => r.open_claims,
          href: (r) => `#/search?city=${encodeURIComponent(r.city)}&status=open`,
          caption: t('dash.by_city'),
        }),
      ),
      section(
        t('dash.cycle'),
        f.cycle_times.length
          ? h(
              'table',
              { class: 'list' },
              h('thead', {}, h('tr', {}, [t('col.task'), t('dash.completed'), 'P50', 'P90'].map((c) => h('th', { scope: 'col' }, c)))),
              h('tbody', {}, f.cycle_times.map((c) => h('tr', {}, h('th', { scope: 'row' }, tv('kind', c.kind)), h('td', { class: 'num' }, c.completed), h('td', { class: 'num' }, duration(c.p50_seconds)), h('td', { class: 'num' }, duration(c.p90_seconds))))),
            )
          : h('p', { class: 'muted' }, t('dash.none')),
      ),
      section(
        t('dash.sla'),
        bars(f.sla, {
          label: (r) => tv('kind', r.kind),
          value: (r) => Math.round(r.attainment * 1000) / 10,
          max: 100,
          format: (v) => `${v}%`,
          caption: t('dash.sla'),
        }),
      ),
    ),
    section(t('dash.days'), dayChart(f.days)),
    section(
      t('dash.my_tasks'),
      inbox.items.length
        ? h('ul', { class: 'open-tasks' }, inbox.items.map((task) => h('li', {}, h('a', { href: `#/tasks/${task.task_id}` }, tv('kind', task.kind)), ` · ${task.policyholder_name} · ${task.city} · ${when(task.due_at)}`, task.overdue ? [' ', badge('overdue', t('inbox.overdue'))] : null)))
        : h('p', { class: 'muted' }, t('inbox.empty')),
    ),
    h('p', { class: 'muted' }, t('dash.range_note', { from: when(f.from), to: when(f.to) })),
  );
}
