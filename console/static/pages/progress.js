// The policyholder's progress page: no sign-in, large type, plain words.

import { api } from '../api.js';
import { t, pick } from '../i18n.js';
import { h, when, yuan } from '../ui.js';

function words(w) {
  return w ? pick(w.zh, w.en) : '';
}

export async function progressPage({ params }) {
  const [token] = params;
  document.title = t('progress.title');
  let p;
  try {
    p = await api(`/progress/${encodeURIComponent(token)}`, { auth: false });
  } catch (err) {
    const gone = err.status === 410;
    return h(
      'div',
      { class: 'progress-page', dataset: { error: String(err.status || 'network') } },
      h('h1', { tabindex: '-1' }, gone ? t('progress.expired_title') : t('progress.invalid_title')),
      h('p', { class: 'plain', role: 'alert' }, gone ? t('progress.expired') : err.status ? t('progress.invalid') : t('err.network')),
    );
  }
  // A closed claim has taken every step.
  const at = p.stage === 'closed' ? p.steps + 1 : p.step;
  const steps = [1, 2, 3, 4, 5].map((n) =>
    h(
      'li',
      { class: n < at ? 'done' : n === at ? 'current' : 'todo', 'aria-current': n === at ? 'step' : null },
      h('span', { class: 'step-mark', 'aria-hidden': 'true' }, n < at ? '✓' : String(n)),
      h('span', {}, t(`progress.step${n}`)),
      h('span', { class: 'sr-only' }, n < at ? t('progress.step_done') : n === at ? t('progress.step_now') : t('progress.step_todo')),
    ),
  );
  const payout = p.payout;
  return h(
    'div',
    { class: 'progress-page', dataset: { stage: p.stage, step: String(p.step) } },
    h('h1', { tabindex: '-1' }, t('progress.title')),
    h('p', { class: 'where', id: 'where' }, words(p.where)),
    h('ol', { class: 'steps', 'aria-label': t('progress.steps', { step: p.step, steps: p.steps }) }, steps),
    h(
      'section',
      { class: 'plain-box', 'aria-labelledby': 'next-h' },
      h('h2', { id: 'next-h' }, t('progress.next')),
      h('p', { class: 'plain' }, words(p.next)),
      p.still_needed.length
        ? h(
            'ul',
            { class: 'needed' },
            p.still_needed.map((n) =>
              h('li', { dataset: { code: n.code } }, h('strong', {}, words(n.title)), n.reason ? h('span', { class: 'why' }, t('progress.why', { reason: words(n.reason) })) : null),
            ),
          )
        : null,
      p.visit_at ? h('p', { class: 'plain' }, t('progress.visit', { at: when(p.visit_at) })) : null,
    ),
    p.agent
      ? h(
          'section',
          { class: 'plain-box', 'aria-labelledby': 'agent-h' },
          h('h2', { id: 'agent-h' }, t('progress.agent')),
          h('p', { class: 'plain agent-name' }, p.agent.name),
          p.agent.phone ? h('p', { class: 'plain' }, h('a', { href: `tel:${p.agent.phone}`, class: 'call' }, t('progress.call', { phone: p.agent.phone }))) : null,
        )
      : null,
    payout
      ? h(
          'section',
          { class: 'plain-box', 'aria-labelledby': 'money-h' },
          h('h2', { id: 'money-h' }, t('progress.money')),
          payout.awarded
            ? h('p', { class: 'plain amount', dataset: { amount: payout.awarded } }, t('progress.awarded', { amount: yuan(payout.awarded) }))
            : payout.expected
              ? h('p', { class: 'plain amount', dataset: { amount: payout.expected } }, t('progress.expected', { amount: yuan(payout.expected) }))
              : null,
          payout.explanation ? h('pre', { class: 'explanation big' }, words(payout.explanation)) : null,
          payout.awarded ? null : h('p', { class: 'hint' }, t('progress.expected_note')),
        )
      : null,
    h('p', { class: 'muted' }, t('progress.updated', { at: when(p.updated_at), until: when(p.link_expires_at) })),
  );
}
