// Presences, capacity profiles, and users with, for agents, their routing (capacity and skills), the capacity
// profiles they hold, and a one-time set-password token.
import { api } from '../api.js';
import { t } from '../text.js';
import { html, useEffect, useState } from '../view.js';
import { DeleteButton, Failure, Field, Form, Secret, Table, roleOptions, useAll, useLoad, useSubmit, when } from './kit.js';

const BASES = ['available', 'busy', 'busy_dnd', 'away', 'offline'];
const baseOptions = () => BASES.map((b) => [b, t(`admin.base.${b}`)]);

function Actions({ name, onEdit, deletePath, onDeleted, setError }) {
  return html`<span class="actions">
    <button type="button" class="secondary" aria-label=${t('admin.edit_named', { name })} onClick=${onEdit}>${t('admin.edit')}</button>
    <${DeleteButton} text=${t('admin.delete')} label=${t('admin.delete_named', { name })}
      question=${t('admin.delete_confirm', { name })} path=${deletePath} onDone=${onDeleted} setError=${setError} />
  </span>`;
}

export function Presences() {
  const list = useLoad('/v1/presences');
  const [editing, setEditing] = useState(null);
  const [error, setError] = useState(null);
  const current = list.value?.find((p) => p.id === editing);
  return html`
    <${Failure} message=${list.error ?? error} />
    <${Table} caption=${t('admin.presences')} items=${list.value}
      columns=${[t('admin.name'), t('admin.base'), t('admin.kind'), t('admin.actions')]}
      row=${(p) => [p.name, t(`admin.base.${p.base}`), p.built_in ? t('admin.built_in') : t('admin.custom'),
        p.built_in ? '' : html`<${Actions} name=${p.name} onEdit=${() => setEditing(p.id)}
          deletePath=${`/v1/presences/${p.id}`} onDeleted=${list.reload} setError=${setError} />`]} />
    ${current && html`<${Form} key=${current.id} title=${t('admin.edit_named', { name: current.name })}
      initial=${{ name: current.name, base: current.base }}
      fields=${[{ path: 'name', label: t('admin.name') },
        { path: 'base', label: t('admin.base'), type: 'select', options: baseOptions() }]}
      submit=${(v) => api('PATCH', `/v1/presences/${current.id}`, v)}
      onDone=${() => { setEditing(null); list.reload(); }} />`}
    <${Form} title=${t('admin.new_presence')} initial=${{ base: 'away' }}
      fields=${[{ path: 'name', label: t('admin.name') },
        { path: 'base', label: t('admin.base'), type: 'select', options: baseOptions(), hint: t('admin.base_hint') }]}
      submit=${(v) => api('POST', '/v1/presences', v)}
      onDone=${(_, reset) => { reset({ base: 'away' }); list.reload(); }} submitLabel=${t('admin.create')} />
  `;
}

/// Quick replies: texts agents insert into a reply from the agent desktop.
export function QuickReplies() {
  const list = useLoad('/v1/quick-replies');
  const [editing, setEditing] = useState(null);
  const [error, setError] = useState(null);
  const current = list.value?.find((q) => q.id === editing);
  const fields = [
    { path: 'title', label: t('admin.title_field') },
    { path: 'text', label: t('admin.reply_text'), type: 'textarea', hint: t('admin.reply_text_hint') },
  ];
  return html`
    <${Failure} message=${list.error ?? error} />
    <${Table} caption=${t('admin.quick_replies')} items=${list.value}
      columns=${[t('admin.title_field'), t('admin.reply_text'), t('admin.actions')]}
      row=${(q) => [q.title, q.text, html`<${Actions} name=${q.title} onEdit=${() => setEditing(q.id)}
        deletePath=${`/v1/quick-replies/${q.id}`} onDeleted=${list.reload} setError=${setError} />`]} />
    ${current && html`<${Form} key=${current.id} title=${t('admin.edit_named', { name: current.title })}
      initial=${{ title: current.title, text: current.text }} fields=${fields}
      submit=${(v) => api('PATCH', `/v1/quick-replies/${current.id}`, v)}
      onDone=${() => { setEditing(null); list.reload(); }} />`}
    <${Form} title=${t('admin.new_quick_reply')} initial=${{}} fields=${fields}
      submit=${(v) => api('POST', '/v1/quick-replies', v)}
      onDone=${(_, reset) => { reset({}); list.reload(); }} submitLabel=${t('admin.create')} />
  `;
}

/// The form's values as a profile's body: the reset is `on_release` or a period in minutes with its time zone.
function profileBody(v) {
  const reset = v.reset === 'every'
    ? { every_minutes: Number(v['reset.every_minutes']), time_zone: v['reset.time_zone'] || undefined }
    : 'on_release';
  return { name: v.name, max_items: Number(v.max_items), block_others: Boolean(v.block_others), reset };
}

function profileFields() {
  return [
    { path: 'name', label: t('admin.name') },
    { path: 'max_items', label: t('admin.max_items'), type: 'number', hint: t('admin.max_items_hint') },
    { path: 'block_others', label: t('admin.block_others'), type: 'checkbox' },
    { path: 'reset', label: t('admin.reset'), type: 'select',
      options: [['on_release', t('admin.reset_on_release')], ['every', t('admin.reset_every')]] },
    { path: 'reset.every_minutes', label: t('admin.every_minutes'), type: 'number', hint: t('admin.every_minutes_hint') },
    { path: 'reset.time_zone', label: t('admin.time_zone'), hint: t('admin.time_zone_hint') },
  ];
}

function resetText(reset) {
  return reset === 'on_release' ? t('admin.reset_on_release')
    : t('admin.reset_every_n', { n: reset?.every_minutes ?? '', zone: reset?.time_zone ?? 'UTC' });
}

export function Profiles() {
  const list = useLoad('/v1/capacity-profiles');
  const [editing, setEditing] = useState(null);
  const [error, setError] = useState(null);
  const current = list.value?.find((p) => p.id === editing);
  const initial = { max_items: '1', reset: 'on_release' };
  return html`
    <${Failure} message=${list.error ?? error} />
    <${Table} caption=${t('admin.profiles')} items=${list.value}
      columns=${[t('admin.name'), t('admin.max_items'), t('admin.block_others'), t('admin.reset'), t('admin.actions')]}
      row=${(p) => [p.name, String(p.max_items), p.block_others ? t('admin.yes') : t('admin.no'), resetText(p.reset),
        html`<${Actions} name=${p.name} onEdit=${() => setEditing(p.id)} deletePath=${`/v1/capacity-profiles/${p.id}`}
          onDeleted=${list.reload} setError=${setError} />`]} />
    ${current && html`<${Form} key=${current.id} title=${t('admin.edit_named', { name: current.name })}
      initial=${{ name: current.name, max_items: String(current.max_items), block_others: current.block_others,
        reset: current.reset === 'on_release' ? 'on_release' : 'every',
        'reset.every_minutes': String(current.reset?.every_minutes ?? ''), 'reset.time_zone': current.reset?.time_zone ?? '' }}
      fields=${profileFields()}
      submit=${(v) => api('PATCH', `/v1/capacity-profiles/${current.id}`, profileBody(v))}
      onDone=${() => { setEditing(null); list.reload(); }} />`}
    <${Form} title=${t('admin.new_profile')} initial=${initial} fields=${profileFields()}
      submit=${(v) => api('POST', '/v1/capacity-profiles', profileBody(v))}
      onDone=${(_, reset) => { reset(initial); list.reload(); }} submitLabel=${t('admin.create')} />
  `;
}

/// What an attribute's value is, for its row: the type the API sent, and the value as the input holds it.
const kindOf = (value) => (typeof value === 'number' ? 'number' : typeof value === 'boolean' ? 'boolean' : 'text');
const attributeValue = ({ kind, value }) => (kind === 'number' ? Number(value) : kind === 'boolean' ? value === 'true' : value);

/// An agent's capacity units, skills and attributes (`/v1/agents/{id}/routing`); working hours are kept.
function AgentRouting({ agent }) {
  const loaded = useLoad(`/v1/agents/${agent.id}/routing`, (body) => body);
  const [units, setUnits] = useState('');
  const [skills, setSkills] = useState(null);
  const [attributes, setAttributes] = useState([]);
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    if (!loaded.value) return;
    setUnits(String(loaded.value.capacity_units));
    setSkills(loaded.value.skills.map((s) => ({ ...s })));
    setAttributes(Object.entries(loaded.value.attributes ?? {})
      .map(([name, value]) => ({ name, kind: kindOf(value), value: String(value) })));
  }, [loaded.value]);
  const paths = ['capacity_units', ...(skills ?? []).flatMap((_, i) => [`skills[${i}].name`, `skills[${i}].proficiency`]),
    ...attributes.map((a) => `attributes.${a.name}`)];
  const { errors, alert, busy, run } = useSubmit(paths);
  if (!skills) return html`<${Failure} message=${loaded.error} />`;
  const set = (i, change) => setSkills(skills.map((s, j) => (j === i ? { ...s, ...change } : s)));
  const setAttribute = (i, change) => setAttributes(attributes.map((a, j) => (j === i ? { ...a, ...change } : a)));
  async function save(event) {
    event.preventDefault();
    setSaved(false);
    const body = { capacity_units: Number(units), skills,
      attributes: Object.fromEntries(attributes.map((a) => [a.name, attributeValue(a)])) };
    if (await run(() => api('PUT', `/v1/agents/${agent.id}/routing`, body))) setSaved(true);
  }
  return html`<form class="admin-form" onSubmit=${save} aria-labelledby="routing-title" noValidate>
    <h3 id="routing-title">${t('admin.agent_routing')}</h3>
    <${Field} label=${t('admin.capacity_units')} type="number" path="capacity_units" errors=${errors} value=${units}
      onValue=${setUnits} />
    <fieldset><legend>${t('admin.skills')}</legend>
      ${skills.length === 0 && html`<p class="muted">${t('admin.no_skills')}</p>`}
      ${skills.map((s, i) => html`<div class="row" role="group" aria-label=${t('admin.skill_n', { n: i + 1 })}>
        <${Field} label=${t('admin.skill')} path=${`skills[${i}].name`} errors=${errors} value=${s.name}
          onValue=${(name) => set(i, { name })} />
        <${Field} label=${t('admin.proficiency')} type="number" path=${`skills[${i}].proficiency`} errors=${errors}
          value=${String(s.proficiency)} onValue=${(v) => set(i, { proficiency: Number(v) })} />
        <button type="button" class="secondary" onClick=${() => setSkills(skills.filter((_, j) => j !== i))}>${t('admin.remove')}</button>
      </div>`)}
      <button type="button" class="secondary" onClick=${() => setSkills([...skills, { name: '', proficiency: 5 }])}>${t('admin.add_skill')}</button>
    </fieldset>
    <fieldset><legend>${t('admin.attributes')}</legend>
      ${attributes.length === 0 && html`<p class="muted">${t('admin.no_attributes')}</p>`}
      ${attributes.map((a, i) => html`<div class="row" role="group" aria-label=${t('admin.attribute_n', { n: i + 1 })}>
        <${Field} label=${t('admin.attribute')} path=${`attributes.${a.name}`} errors=${errors} value=${a.name}
          onValue=${(name) => setAttribute(i, { name })} />
        <${Field} label=${t('admin.attribute_kind')} type="select" value=${a.kind}
          options=${['text', 'number', 'boolean'].map((k) => [k, t(`admin.kind.${k}`)])}
          onValue=${(kind) => setAttribute(i, { kind, value: kind === 'boolean' ? 'true' : a.value })} />
        ${a.kind === 'boolean'
          ? html`<${Field} label=${t('admin.value')} type="select" value=${a.value}
              options=${[['true', t('admin.yes')], ['false', t('admin.no')]]} onValue=${(value) => setAttribute(i, { value })} />`
          : html`<${Field} label=${t('admin.value')} type=${a.kind === 'number' ? 'number' : 'text'} value=${a.value}
              onValue=${(value) => setAttribute(i, { value })} />`}
        <button type="button" class="secondary" onClick=${() => setAttributes(attributes.filter((_, j) => j !== i))}>${t('admin.remove')}</button>
      </div>`)}
      <button type="button" class="secondary"
        onClick=${() => setAttributes([...attributes, { name: '', kind: 'text', value: '' }])}>${t('admin.add_attribute')}</button>
    </fieldset>
    ${alert && html`<p role="alert" class="error">${alert}</p>`}
    <p role="status">${saved ? t('admin.saved') : ''}</p>
    <button type="submit" disabled=${busy}>${t('admin.save_routing')}</button>
  </form>`;
}

/// The capacity profiles an agent holds, each with the agent's own limit when set.
function AgentProfiles({ agent }) {
  const profiles = useLoad('/v1/capacity-profiles');
  const held = useLoad(`/v1/agents/${agent.id}/capacity-profiles`);
  const [chosen, setChosen] = useState(null);
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    if (held.value) {
      setChosen(Object.fromEntries(held.value.map((p) => [p.profile_id, p.overridden ? String(p.max_items) : ''])));
    }
  }, [held.value]);
  const paths = [...Object.keys(chosen ?? {}).map((_, i) => `profiles[${i}].max_items`)];
  const { errors, alert, busy, run } = useSubmit(paths);
  if (!chosen || !profiles.value) return html`<${Failure} message=${profiles.error ?? held.error} />`;
  async function save(event) {
    event.preventDefault();
    setSaved(false);
    const body = { profiles: Object.entries(chosen).map(([profile_id, limit]) => ({
      profile_id, max_items: limit === '' ? undefined : Number(limit) })) };
    if (await run(() => api('PUT', `/v1/agents/${agent.id}/capacity-profiles`, body))) setSaved(true);
  }
  const order = Object.keys(chosen);
  return html`<form class="admin-form" onSubmit=${save} aria-labelledby="agent-profiles-title" noValidate>
    <h3 id="agent-profiles-title">${t('admin.agent_profiles')}</h3>
    ${profiles.value.length === 0 && html`<p class="muted">${t('admin.no_profiles')}</p>`}
    ${profiles.value.map((p) => {
      const on = p.id in chosen;
      return html`<div class="row" role="group" aria-label=${p.name}>
        <${Field} type="checkbox" label=${p.name} value=${on} onValue=${(yes) => {
          const next = { ...chosen };
          if (yes) next[p.id] = '';
          else delete next[p.id];
          setChosen(next);
        }} />
        ${on && html`<${Field} type="number" label=${t('admin.own_limit')} path=${`profiles[${order.indexOf(p.id)}].max_items`}
          errors=${errors} value=${chosen[p.id]} hint=${t('admin.own_limit_hint', { n: p.max_items })}
          onValue=${(v) => setChosen({ ...chosen, [p.id]: v })} />`}
      </div>`;
    })}
    ${alert && html`<p role="alert" class="error">${alert}</p>`}
    <p role="status">${saved ? t('admin.saved') : ''}</p>
    <button type="submit" disabled=${busy}>${t('admin.save_profiles')}</button>
  </form>`;
}

function PasswordToken({ user }) {
  const [token, setToken] = useState(null);
  const { alert, busy, run } = useSubmit([]);
  async function issue() {
    const answer = await run(() => api('POST', `/v1/users/${user.id}/password-token`));
    if (answer) setToken(answer);
  }
  return html`<div class="panel-part">
    <h3>${t('admin.password')}</h3>
    <p class="hint">${t('admin.password_hint')}</p>
    <button type="button" class="secondary" disabled=${busy} onClick=${issue}>${t('admin.issue_token')}</button>
    ${alert && html`<p role="alert" class="error">${alert}</p>`}
    ${token && html`<${Secret} label=${t('admin.password_token')} value=${token.token} />
      <p>${t('admin.expires', { at: when(token.expires_at) })}</p>`}
  </div>`;
}

export function Users() {
  const users = useAll('/v1/users');
  const [open, setOpen] = useState(null);
  const current = users.value?.find((u) => u.id === open);
  return html`
    <${Failure} message=${users.error} />
    <p class="hint">${t('admin.users_hint')}</p>
    <${Table} caption=${t('admin.users')} items=${users.value}
      columns=${[t('admin.name'), t('admin.email'), t('admin.role'), t('admin.actions')]}
      row=${(u) => [u.name, u.email ?? '', t(`role.${u.role}`), html`<button type="button" class="secondary"
        aria-label=${t('admin.settings_named', { name: u.name })} onClick=${() => setOpen(u.id)}>${t('admin.settings')}</button>`]} />
    ${current && html`<section class="panel" key=${current.id} aria-labelledby="user-title">
      <h3 id="user-title" class="panel-title">${t('admin.user_named', { name: current.name })}</h3>
      ${current.role === 'agent' && html`<${AgentRouting} agent=${current} /><${AgentProfiles} agent=${current} />`}
      ${current.email && html`<${PasswordToken} user=${current} />`}
    </section>`}
    <${Form} title=${t('admin.new_user')} initial=${{ role: 'agent' }}
      fields=${[
        { path: 'name', label: t('admin.name') },
        { path: 'email', label: t('admin.email'), type: 'email', hint: t('admin.email_hint') },
        { path: 'role', label: t('admin.role'), type: 'select', options: roleOptions() },
      ]}
      submit=${(v) => api('POST', '/v1/users', { name: v.name, email: v.email || undefined, role: v.role })}
      onDone=${(created, reset) => { reset({ role: 'agent' }); users.reload(); setOpen(created.id ?? created.user_id); }}
      submitLabel=${t('admin.create')} />
  `;
}
