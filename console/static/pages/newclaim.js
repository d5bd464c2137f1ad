// Discovery: a return visit, a hotline call or a self-report opens a claim case.

import { api } from '../api.js';
import { t, tv } from '../i18n.js';
import { h, field, choices, formError, busy, showErrors, text, formValue, pageTitle, flash, section } from '../ui.js';

const NEEDS = ['elderly', 'exhausted_after_illness', 'cannot_understand_rules', 'cannot_collect_documents'];
const TYPES = ['medical_reimbursement', 'critical_illness', 'hospitalization_allowance', 'accident'];
const SOURCES = ['return_visit', 'hotline', 'self_report'];

const opts = (group, values) => values.map((v) => ({ value: v, label: tv(group, v) }));

export async function newClaimPage({ user, go }) {
  const form = h(
    'form',
    { class: 'form', novalidate: true, id: 'new-claim' },
    h(
      'fieldset',
      { class: 'block' },
      h('legend', {}, t('new.policyholder')),
      field('policyholder.name', t('field.policyholder_name'), { required: true }),
      field('policyholder.city', t('field.city'), { required: true, hint: t('field.city_hint') }),
      field('policyholder.phone', t('field.phone'), { type: 'tel', attrs: { autocomplete: 'off' } }),
      field('policyholder.age', t('field.age'), { attrs: { inputmode: 'numeric' } }),
      choices('policyholder.needs', t('field.needs'), opts('need', NEEDS), { multiple: true }),
      field('policyholder.has_social_security', t('field.has_social_security'), { type: 'checkbox' }),
    ),
    h(
      'fieldset',
      { class: 'block' },
      h('legend', {}, t('new.policy')),
      field('policy.policy_number', t('field.policy_number'), { required: true }),
      field('policy.insurer', t('field.insurer'), { required: true }),
      field('policy.product', t('field.product')),
      field('policy.sum_insured', t('field.sum_insured'), { required: true, attrs: { inputmode: 'decimal' }, hint: t('field.yuan_hint') }),
      field('policy.deductible', t('field.deductible'), { value: '0', attrs: { inputmode: 'decimal' }, hint: t('field.yuan_hint') }),
      field('policy.ratio_with_social_security', t('field.ratio_with'), { value: '1', attrs: { inputmode: 'decimal' }, hint: t('field.ratio_hint') }),
      field('policy.ratio_without_social_security', t('field.ratio_without'), { value: '0.6', attrs: { inputmode: 'decimal' }, hint: t('field.ratio_hint') }),
    ),
    h(
      'fieldset',
      { class: 'block' },
      h('legend', {}, t('new.incident')),
      field('incident.claim_type', t('field.claim_type'), { type: 'select', options: opts('claim_type', TYPES) }),
      field('incident.diagnosis', t('field.diagnosis')),
      field('incident.occurred_on', t('field.occurred_on'), { type: 'date', required: true }),
      field('incident.hospital', t('field.hospital')),
      field('incident.description', t('field.description'), { type: 'textarea', wide: true }),
    ),
    h(
      'fieldset',
      { class: 'block' },
      h('legend', {}, t('new.discovery')),
      field('source', t('field.source'), { type: 'select', options: opts('source', SOURCES) }),
      field('opened_by', t('field.opened_by'), { value: user.user_id, required: true }),
      field('consultant', t('field.consultant'), { value: user.role === 'consultant' ? user.user_id : '', required: true }),
      field('note', t('field.note'), { type: 'textarea', wide: true }),
    ),
    formError(),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, t('new.submit'))),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = (name) => text(form, name);
    const age = v('policyholder.age');
    const body = {
      policyholder: {
        name: v('policyholder.name') ?? '',
        city: v('policyholder.city') ?? '',
        phone: v('policyholder.phone'),
        age: age === null ? null : /^\d+$/.test(age) ? Number(age) : age,
        needs: formValue(form, 'policyholder.needs'),
        has_social_security: formValue(form, 'policyholder.has_social_security'),
      },
      policy: {
        policy_number: v('policy.policy_number') ?? '',
        insurer: v('policy.insurer') ?? '',
        product: v('policy.product'),
        sum_insured: v('policy.sum_insured') ?? '',
        deductible: v('policy.deductible') ?? '0',
        ratio_with_social_security: v('policy.ratio_with_social_security') ?? '1',
        ratio_without_social_security: v('policy.ratio_without_social_security') ?? '0.6',
      },
      incident: {
        claim_type: v('incident.claim_type'),
        description: v('incident.description') ?? '',
        diagnosis: v('incident.diagnosis'),
        occurred_on: v('incident.occurred_on') ?? '',
        hospital: v('incident.hospital'),
      },
      source: v('source'),
      opened_by: v('opened_by') ?? '',
      consultant: v('consultant') ?? '',
      note: v('note'),
    };
    const done = busy(form);
    try {
      const claim = await api('/claims', { method: 'POST', body });
      flash(t('new.opened', { id: claim.claim_id }));
      go(`#/claims/${claim.claim_id}`);
    } catch (err) {
      done();
      showErrors(form, err);
    }
  });
  return h('div', {}, pageTitle(t('new.title')), h('p', { class: 'lead' }, t('new.lead')), section(t('new.form'), form));
}
