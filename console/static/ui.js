// Small DOM helpers: elements, labelled form fields, the API's errors in place, formats.

import { t, tv, has } from './i18n.js';

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

let seq = 0;
export const uid = (prefix = 'f') => `${prefix}-${++seq}`;

/**
 * A labelled input whose `name` is the dotted path of its value in the request body
 * (e.g. "policy.sum_insured"), so the API's 422 `loc` finds it.
 */
export function field(name, label, opts = {}) {
  const { type = 'text', value, options, hint, required, attrs = {}, wide } = opts;
  const id = uid('in');
  const errId = `${id}-err`;
  const hintId = hint ? `${id}-hint` : null;
  const describedBy = [hintId, errId].filter(Boolean).join(' ');
  let control;
  if (type === 'select') {
    control = h(
      'select',
      { id, name, 'aria-describedby': describedBy, ...attrs },
      (options || []).map((o) =>
        h('option', { value: o.value, selected: String(o.value) === String(value ?? '') }, o.label),
      ),
    );
  } else if (type === 'textarea') {
    control = h('textarea', { id, name, rows: opts.rows || 3, 'aria-describedby': describedBy, ...attrs });
    if (value !== undefined && value !== null) control.value = value;
  } else if (type === 'checkbox') {
    control = h('input', { id, name, type: 'checkbox', checked: Boolean(value), 'aria-describedby': describedBy, ...attrs });
    return h(
      'div',
      { class: 'field field-check', dataset: { path: name } },
      control,
      h('label', { for: id }, label),
      hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
      h('p', { class: 'field-error', id: errId, hidden: true }),
    );
  } else {
    control = h('input', { id, name, type, 'aria-describedby': describedBy, ...attrs });
    if (value !== undefined && value !== null) control.value = value;
  }
  if (required) control.setAttribute('aria-required', 'true');
  return h(
    'div',
    { class: `field${wide ? ' wide' : ''}`, dataset: { path: name } },
    h('div', { class: 'label-row' }, h('label', { for: id }, label), required ? h('span', { class: 'req', 'aria-hidden': 'true' }, '*') : null),
    control,
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    h('p', { class: 'field-error', id: errId, hidden: true }),
  );
}

/** A group of radio buttons (one value) or checkboxes (several), in a fieldset. */
export function choices(name, legend, items, opts = {}) {
  const { multiple = false, value, inline = true } = opts;
  const errId = uid('grp') + '-err';
  const selected = new Set([].concat(value ?? []).map(String));
  return h(
    'fieldset',
    { class: `field group${inline ? ' inline' : ''}`, dataset: { path: name }, 'aria-describedby': errId },
    h('legend', {}, legend),
    items.map((it) => {
      const id = uid('opt');
      return h(
        'span',
        { class: 'choice' },
        h('input', {
          id,
          type: multiple ? 'checkbox' : 'radio',
          name,
          value: it.value,
          checked: selected.has(String(it.value)),
        }),
        h('label', { for: id }, it.label),
      );
    }),
    h('p', { class: 'field-error', id: errId, hidden: true }),
  );
}

export function formValue(form, name) {
  const el = form.elements.namedItem(name);
  if (!el) return undefined;
  if (el instanceof RadioNodeList) {
    const first = el[0];
    if (first && first.type === 'checkbox') return Array.from(el).filter((e) => e.checked).map((e) => e.value);
    return el.value;
  }
  if (el.type === 'checkbox') {
    // A lone checkbox of a multi-choice group is still a list.
    if (el.closest('fieldset.group')) return el.checked ? [el.value] : [];
    return el.checked;
  }
  return el.value;
}

/** The trimmed text of a field, or null when empty. */
export function text(form, name) {
  const v = formValue(form, name);
  if (typeof v !== 'string') return v ?? null;
  const s = v.trim();
  return s === '' ? null : s;
}

// --- errors ------------------------------------------------------------------------------

const MESSAGES = {
  missing: 'err.missing',
  string_too_short: 'err.too_short',
  string_too_long: 'err.too_long',
  decimal_parsing: 'err.number',
  decimal_type: 'err.number',
  float_parsing: 'err.number',
  int_parsing: 'err.integer',
  int_type: 'err.integer',
  greater_than_equal: 'err.min',
  greater_than: 'err.min_exclusive',
  less_than_equal: 'err.max',
  less_than: 'err.max_exclusive',
  decimal_max_places: 'err.decimal_places',
  decimal_max_digits: 'err.max_digits',
  date_parsing: 'err.date',
  date_from_datetime_parsing: 'err.date',
  date_type: 'err.date',
  datetime_parsing: 'err.datetime',
  datetime_from_date_parsing: 'err.datetime',
  datetime_type: 'err.datetime',
  enum: 'err.choose',
  literal_error: 'err.choose',
  bool_parsing: 'err.choose',
  string_pattern_mismatch: 'err.pattern',
  list_type: 'err.choose',
  too_short: 'err.too_few',
  too_long: 'err.too_many',
};

/** One validation error in the user's language; rules of the domain are translated by text. */
export function describe(d) {
  let msg = String(d.msg || '');
  if (d.type === 'value_error' || d.type === 'assertion_error') {
    msg = msg.replace(/^Value error, /, '').replace(/^Assertion failed, /, '');
    return serverText(msg);
  }
  const key = MESSAGES[d.type];
  if (key) return t(key, { ...(d.ctx || {}) });
  return serverText(msg);
}

/** A sentence from the server, translated where the console knows it. */
export function serverText(msg) {
  const m = String(msg || '');
  if (has(`server.${m}`)) return t(`server.${m}`);
  const coded = /^([a-z][a-z0-9_]*): (.+)$/.exec(m);
  if (coded && has(`server.${coded[2]}`)) {
    const title = has(`doc.${coded[1]}`) ? t(`doc.${coded[1]}`) : coded[1];
    return `${title}: ${t(`server.${coded[2]}`)}`;
  }
  return m;
}

export function clearErrors(form) {
  for (const p of form.querySelectorAll('.field-error')) {
    p.hidden = true;
    p.textContent = '';
  }
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  for (const el of form.querySelectorAll('.invalid')) el.classList.remove('invalid');
  const summary = form.querySelector('.form-error');
  if (summary) {
    summary.textContent = '';
    summary.hidden = true;
  }
}

function fieldFor(form, loc, opts) {
  let parts = loc.slice(['body', 'query', 'path', 'header', 'form'].includes(loc[0]) ? 1 : 0);
  // A discriminated union names the member it tried (e.g. the outcome's kind): skip it.
  if (opts.tags) parts = parts.filter((p) => !opts.tags.includes(p));
  if (opts.locate) {
    const found = opts.locate(parts);
    if (found) return found;
  }
  for (let n = parts.length; n > 0; n--) {
    const path = parts.slice(0, n).join('.');
    const el = form.querySelector(`[data-path="${CSS.escape(path)}"]`);
    if (el) return el;
  }
  return null;
}

/**
 * Show an API error on its form: each 422 item next to its field (by `loc`), the rest in the
 * form's summary, which is announced. Nothing the user typed is touched.
 */
export function showErrors(form, err, opts = {}) {
  clearErrors(form);
  const summary = form.querySelector('.form-error');
  const general = [];
  let first = null;
  if (err && err.status === 422 && Array.isArray(err.detail)) {
    for (const d of err.detail) {
      const wrap = fieldFor(form, d.loc || [], opts);
      const message = describe(d);
      if (!wrap) {
        general.push(message);
        continue;
      }
      const p = wrap.querySelector(':scope > .field-error') || wrap.querySelector('.field-error');
      p.hidden = false;
      p.textContent = p.textContent ? `${p.textContent} ${message}` : message;
      wrap.classList.add('invalid');
      const control = wrap.matches('input,select,textarea') ? wrap : wrap.querySelector('input,select,textarea');
      if (control) {
        control.setAttribute('aria-invalid', 'true');
        first = first || control;
      }
    }
    if (summary) {
      const n = err.detail.length - general.length;
      const lines = [n ? t('form.fix_marked', { n }) : null, ...general].filter(Boolean);
      summary.textContent = lines.join(' ');
      summary.hidden = false;
    }
  } else if (summary) {
    summary.textContent = errorText(err);
    summary.hidden = false;
  }
  if (first) first.focus();
  else if (summary) summary.focus();
}

/** A non-field error in words: what the server said, or what went wrong. */
export function errorText(err) {
  if (!err) return t('err.unknown');
  if (err.status === undefined) return t('err.network');
  const byStatus = { 401: 'err.401', 403: 'err.403', 404: 'err.404', 409: 'err.409', 410: 'err.410' };
  const prefix = byStatus[err.status] ? t(byStatus[err.status]) : t('err.status', { status: err.status });
  const detail = typeof err.detail === 'string' ? serverText(err.detail) : '';
  return detail ? `${prefix} ${detail}` : prefix;
}

export function formError() {
  return h('p', { class: 'form-error', role: 'alert', tabindex: '-1', hidden: true });
}

/** Disable a form's buttons while it is sent; returns the function that enables them. */
export function busy(form) {
  const buttons = Array.from(form.querySelectorAll('button'));
  for (const b of buttons) b.disabled = true;
  form.setAttribute('aria-busy', 'true');
  return () => {
    for (const b of buttons) b.disabled = false;
    form.removeAttribute('aria-busy');
  };
}

// --- formats -----------------------------------------------------------------------------

/** "168333.3" -> "168,333.30" without floating point: amounts are exact to the fen. */
export function money(value) {
  if (value === null || value === undefined || value === '') return '';
  let s = String(value).trim();
  const negative = s.startsWith('-');
  if (negative) s = s.slice(1);
  let [whole, frac = ''] = s.split('.');
  frac = (frac + '00').slice(0, 2);
  whole = whole.replace(/^0+(?=\d)/, '').replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${negative ? '-' : ''}${whole}.${frac}`;
}

export function yuan(value) {
  return value === null || value === undefined ? '' : t('unit.yuan', { amount: money(value) });
}

export function percent(ratio) {
  if (ratio === null || ratio === undefined) return '';
  const [w, f = ''] = String(ratio).split('.');
  const digits = (f + '0000').slice(0, 4);
  const hundred = Number(w) * 100 + Number(digits.slice(0, 2));
  const rest = digits.slice(2).replace(/0+$/, '');
  return rest ? `${hundred}.${rest}%` : `${hundred}%`;
}

const SHANGHAI_MS = 8 * 3600 * 1000;

/** An instant as Asia/Shanghai wall time: "2026-11-25 10:00". */
export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return new Date(d.getTime() + SHANGHAI_MS).toISOString().slice(0, 16).replace('T', ' ');
}

export function dayOf(iso) {
  return iso ? when(iso).slice(0, 10) : '';
}

export function todayShanghai(offsetDays = 0) {
  return new Date(Date.now() + SHANGHAI_MS + offsetDays * 86400000).toISOString().slice(0, 10);
}

/** A datetime-local value ("2026-11-25T10:00") as an aware instant in Asia/Shanghai. */
export function shanghaiInstant(local) {
  if (!local) return null;
  return local.length === 16 ? `${local}:00+08:00` : `${local}+08:00`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return '';
  const s = Number(seconds);
  if (s < 3600) return t('unit.minutes', { n: Math.max(1, Math.round(s / 60)) });
  if (s < 86400 * 2) return t('unit.hours', { n: (s / 3600).toFixed(1).replace(/\.0$/, '') });
  return t('unit.days', { n: (s / 86400).toFixed(1).replace(/\.0$/, '') });
}

export function badge(kind, label) {
  return h('span', { class: `badge badge-${kind}` }, label);
}

export function stageBadge(stage) {
  return h('span', { class: `badge stage stage-${stage}` }, tv('stage', stage));
}

export function section(title, ...children) {
  const id = uid('sec');
  return h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}

export function dl(rows) {
  return h(
    'dl',
    { class: 'facts' },
    rows
      .filter((r) => r && r[1] !== undefined && r[1] !== null && r[1] !== '')
      .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
  );
}

let flashTimer;
let flashAge = 0;
/** A message that outlives the navigation it announces, and no more. */
export function flash(message, kind = 'ok') {
  const el = document.getElementById('flash');
  flashAge = 0;
  el.className = `flash flash-${kind}`;
  el.textContent = message;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => {
    el.textContent = '';
    el.className = 'flash';
  }, 8000);
}

/** Called on every rendering: a message from two pages ago is gone. */
export function ageFlash() {
  flashAge += 1;
  if (flashAge > 1) {
    const el = document.getElementById('flash');
    el.textContent = '';
    el.className = 'flash';
  }
}

export function pageTitle(title, ...extra) {
  document.title = `${title} · ${t('app.name')}`;
  return h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, title), ...extra);
}
