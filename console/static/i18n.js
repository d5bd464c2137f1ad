// Chinese by default, English switchable; every label comes from i18n/<lang>.json.

const LANG = 'claimflow.lang';
export const LANGUAGES = ['zh', 'en'];
const dicts = {};
let lang = LANGUAGES.includes(localStorage.getItem(LANG)) ? localStorage.getItem(LANG) : 'zh';

export async function loadI18n() {
  await Promise.all(
    LANGUAGES.map(async (l) => {
      const r = await fetch(new URL(`i18n/${l}.json`, import.meta.url));
      dicts[l] = await r.json();
    }),
  );
  applyLang();
}

export function getLang() {
  return lang;
}

export function setLang(l) {
  lang = l;
  localStorage.setItem(LANG, l);
  applyLang();
}

function applyLang() {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
}

export const missing = new Set();

/** The label for `key` in the current language, with {name} placeholders filled in. */
export function t(key, vars) {
  let s = dicts[lang] && dicts[lang][key];
  if (s === undefined) {
    missing.add(`${lang}:${key}`);
    console.warn(`missing translation ${lang}:${key}`);
    s = key;
  }
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] === undefined ? m : String(vars[k])));
  return s;
}

/** A vocabulary word (stage, task kind, claim type ...); unknown values read as words. */
export function tv(group, value) {
  if (value === null || value === undefined || value === '') return '';
  const s = dicts[lang] && dicts[lang][`${group}.${value}`];
  if (s === undefined) {
    missing.add(`${lang}:${group}.${value}`);
    return String(value).replaceAll('_', ' ');
  }
  return s;
}

/** Whether a key exists (for optional translations, e.g. the server's rule messages). */
export function has(key) {
  return Boolean(dicts[lang] && dicts[lang][key] !== undefined);
}

/** Pick the zh or en text of a pair ({zh, en}, or two fields). */
export function pick(zh, en) {
  return lang === 'zh' ? zh || en || '' : en || zh || '';
}
