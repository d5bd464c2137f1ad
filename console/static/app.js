// The console: a hash-routed single page over the JSON API. No build step, no framework.

import { session, whenUnauthorized } from './api.js';
import { loadI18n, getLang, setLang, t, tv } from './i18n.js';
import { h, flash, ageFlash, errorText, pageTitle } from './ui.js';
import { signInPage } from './pages/signin.js';
import { inboxPage } from './pages/inbox.js';
import { newClaimPage } from './pages/newclaim.js';
import { claimPage } from './pages/claim.js';
import { taskPage } from './pages/task.js';
import { dashboardPage } from './pages/dashboard.js';
import { searchPage } from './pages/search.js';
import { progressPage } from './pages/progress.js';

const ROUTES = [
  { re: /^\/signin$/, page: signInPage, public: true },
  { re: /^\/inbox$/, page: inboxPage },
  { re: /^\/claims\/new$/, page: newClaimPage, roles: ['consultant', 'manager', 'admin'] },
  { re: /^\/claims\/([A-Za-z0-9-]+)$/, page: claimPage },
  { re: /^\/tasks\/([A-Za-z0-9-]+)$/, page: taskPage },
  { re: /^\/dashboard$/, page: dashboardPage, roles: ['manager', 'admin'] },
  { re: /^\/search$/, page: searchPage, roles: ['manager', 'admin'] },
  { re: /^\/progress\/([A-Za-z0-9._-]+)$/, page: progressPage, public: true, bare: true },
];

export function home(user) {
  if (!user) return '#/signin';
  return user.role === 'manager' || user.role === 'admin' ? '#/dashboard' : '#/inbox';
}

export function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function parse() {
  const raw = decodeURIComponent(location.hash.replace(/^#/, '')) || '/';
  const [path, qs = ''] = raw.split('?');
  return { path, query: new URLSearchParams(qs) };
}

function navLinks(user) {
  const links = [];
  if (user.role === 'consultant') {
    links.push(['#/inbox', t('nav.inbox')], ['#/claims/new', t('nav.new_claim')]);
  } else if (user.role === 'field_agent') {
    links.push(['#/inbox', t('nav.today')]);
  } else {
    links.push(
      ['#/dashboard', t('nav.dashboard')],
      ['#/search', t('nav.search')],
      ['#/inbox', t('nav.my_tasks')],
      ['#/claims/new', t('nav.new_claim')],
    );
  }
  return links;
}

function renderChrome(route, user) {
  document.body.classList.toggle('bare', Boolean(route && route.bare));
  document.body.dataset.role = user ? user.role : '';
  document.getElementById('brand').textContent = t('app.name');
  document.getElementById('skip-link').textContent = t('app.skip');
  const toggle = document.getElementById('lang-toggle');
  toggle.textContent = getLang() === 'zh' ? 'English' : '中文';
  toggle.setAttribute('lang', getLang() === 'zh' ? 'en' : 'zh');
  toggle.setAttribute('aria-label', getLang() === 'zh' ? 'Switch to English' : '切换到中文');
  const nav = document.getElementById('nav');
  nav.setAttribute('aria-label', t('nav.label'));
  const { path } = parse();
  nav.replaceChildren(
    ...(user && !(route && route.bare)
      ? navLinks(user).map(([href, label]) =>
          h('a', { href, 'aria-current': `#${path}` === href ? 'page' : null }, label),
        )
      : []),
  );
  const who = document.getElementById('who');
  who.textContent = user && !(route && route.bare) ? `${user.user_id} · ${tv('role', user.role)}` : '';
  const out = document.getElementById('sign-out');
  out.hidden = !user || Boolean(route && route.bare);
  out.textContent = t('nav.sign_out');
}

let rendering = 0;

export async function render() {
  const mine = ++rendering;
  const { path, query } = parse();
  const user = session.get();
  if (path === '/' || path === '') {
    go(home(user));
    return;
  }
  const route = ROUTES.find((r) => r.re.test(path));
  delete document.body.dataset.route;
  ageFlash();
  renderChrome(route, user);
  const main = document.getElementById('main');
  if (!route) {
    main.replaceChildren(pageTitle(t('page.not_found')), h('p', {}, h('a', { href: home(user) }, t('nav.home'))));
    return;
  }
  if (!route.public && !user) {
    sessionStorage.setItem('claimflow.after', location.hash);
    go('#/signin');
    return;
  }
  if (route.roles && !route.roles.includes(user.role)) {
    main.replaceChildren(pageTitle(t('err.403')), h('p', {}, h('a', { href: home(user) }, t('nav.home'))));
    return;
  }
  const params = route.re.exec(path).slice(1);
  main.setAttribute('aria-busy', 'true');
  let content;
  try {
    content = await route.page({ params, query, user, rerender: render, go });
  } catch (err) {
    console.error(err);
    content = h('div', {}, pageTitle(t('page.error')), h('p', { class: 'form-error', role: 'alert' }, errorText(err)));
  }
  if (mine !== rendering) return; // a newer navigation won
  main.removeAttribute('aria-busy');
  main.replaceChildren(content);
  document.body.dataset.route = path;
  const heading = main.querySelector('h1');
  if (heading) heading.focus({ preventScroll: true });
}

async function start() {
  await loadI18n();
  whenUnauthorized(() => {
    session.clear();
    flash(t('signin.expired'), 'error');
    sessionStorage.setItem('claimflow.after', location.hash);
    go('#/signin');
  });
  document.getElementById('lang-toggle').addEventListener('click', () => {
    setLang(getLang() === 'zh' ? 'en' : 'zh');
    render();
  });
  document.getElementById('sign-out').addEventListener('click', () => {
    session.clear();
    flash(t('signin.signed_out'));
    go('#/signin');
  });
  document.getElementById('skip-link').addEventListener('click', (e) => {
    e.preventDefault();
    document.getElementById('main').focus();
  });
  window.addEventListener('hashchange', render);
  await render();
  document.body.dataset.ready = 'true';
}

start();
