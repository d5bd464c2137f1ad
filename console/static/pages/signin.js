import { api, session } from '../api.js';
import { t } from '../i18n.js';
import { h, field, formError, busy, showErrors, pageTitle } from '../ui.js';

export async function signInPage({ go }) {
  const form = h(
    'form',
    { class: 'form narrow', novalidate: true, 'aria-labelledby': 'signin-title' },
    field('username', t('signin.username'), { attrs: { autocomplete: 'username', autocapitalize: 'none' }, required: true }),
    field('password', t('signin.password'), { type: 'password', attrs: { autocomplete: 'current-password' }, required: true }),
    formError(),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, t('signin.submit'))),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const done = busy(form);
    try {
      const token = await api('/auth/token', {
        method: 'POST',
        auth: false,
        form: { username: form.elements.username.value.trim(), password: form.elements.password.value },
      });
      session.set({
        token: token.access_token,
        user_id: token.user_id,
        role: token.role,
        expires_at: Date.now() + token.expires_in * 1000,
      });
      const me = await api('/auth/me');
      session.set({ ...session.get(), city: me.city });
      const after = sessionStorage.getItem('claimflow.after');
      sessionStorage.removeItem('claimflow.after');
      go(after && !after.startsWith('#/signin') ? after : token.role === 'manager' || token.role === 'admin' ? '#/dashboard' : '#/inbox');
    } catch (err) {
      done();
      if (err.status === 401) {
        const summary = form.querySelector('.form-error');
        summary.textContent = t('signin.wrong');
        summary.hidden = false;
        form.elements.password.focus();
        return;
      }
      showErrors(form, err);
    }
  });
  const title = pageTitle(t('signin.title'));
  title.querySelector('h1').id = 'signin-title';
  return h('div', { class: 'signin' }, title, h('p', { class: 'lead' }, t('signin.lead')), form);
}
