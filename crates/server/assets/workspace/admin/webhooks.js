// API access (keys and OAuth2 clients, whose secrets are shown once) and webhook subscriptions: create, change,
// rotate the secret, and the delivery log with each delivery's attempts and replay.
import { api } from '../api.js';
import { t } from '../text.js';
import { html, useState } from '../view.js';
import { DeleteButton, Failure, Form, Secret, Table, names, options, roleOptions, useAll, useLoad, useSubmit, when } from './kit.js';

function Revoke({ name, path, onDone, setError }) {
  return html`<${DeleteButton} text=${t('admin.revoke')} label=${t('admin.revoke_named', { name })}
    question=${t('admin.revoke_confirm', { name })} path=${path} onDone=${onDone} setError=${setError} />`;
}

export function Access() {
  const keys = useAll('/v1/api-keys');
  const clients = useAll('/v1/clients');
  const users = useAll('/v1/users');
  const [error, setError] = useState(null);
  const [key, setKey] = useState(null);
  const [client, setClient] = useState(null);
  const userNames = names(users.value);
  const state = (item) => (item.revoked_at ? t('admin.revoked_at', { at: when(item.revoked_at) }) : t('admin.active'));
  return html`
    <${Failure} message=${keys.error ?? clients.error ?? users.error ?? error} />
    <h3>${t('admin.api_keys')}</h3>
    <${Table} caption=${t('admin.api_keys')} items=${keys.value}
      columns=${[t('admin.name'), t('admin.role'), t('admin.acts_as'), t('admin.prefix'), t('admin.state'), t('admin.actions')]}
      row=${(k) => [k.name, t(`role.${k.role}`), userNames[k.user_id] ?? '', html`<code>${k.prefix}</code>`, state(k),
        k.revoked_at ? '' : html`<${Revoke} name=${k.name} path=${`/v1/api-keys/${k.id}`} onDone=${keys.reload} setError=${setError} />`]} />
    <${Form} title=${t('admin.new_key')} initial=${{ role: 'integration', user_id: '' }}
      fields=${[
        { path: 'name', label: t('admin.name') },
        { path: 'role', label: t('admin.role'), type: 'select', options: roleOptions() },
        { path: 'user_id', label: t('admin.acts_as'), type: 'select', hint: t('admin.acts_as_hint'),
          options: options(users.value, (u) => `${u.name} (${t(`role.${u.role}`)})`, t('admin.nobody')) },
      ]}
      submit=${(v) => api('POST', '/v1/api-keys', { name: v.name, role: v.role, user_id: v.user_id || undefined })}
      onDone=${(created, reset) => { reset({ role: 'integration', user_id: '' }); setKey(created.key); keys.reload(); }}
      submitLabel=${t('admin.create')}>
      <${Secret} label=${t('admin.new_key_secret')} value=${key} />
    </${Form}>
    <h3>${t('admin.clients')}</h3>
    <${Table} caption=${t('admin.clients')} items=${clients.value}
      columns=${[t('admin.name'), t('admin.client_id'), t('admin.role'), t('admin.state'), t('admin.actions')]}
      row=${(c) => [c.name, html`<code>${c.id}</code>`, t(`role.${c.role}`), state(c),
        c.revoked_at ? '' : html`<${Revoke} name=${c.name} path=${`/v1/clients/${c.id}`} onDone=${clients.reload} setError=${setError} />`]} />
    <${Form} title=${t('admin.new_client')} initial=${{ role: 'integration' }}
      fields=${[
        { path: 'name', label: t('admin.name') },
        { path: 'role', label: t('admin.role'), type: 'select', options: roleOptions() },
      ]}
      submit=${(v) => api('POST', '/v1/clients', v)}
      onDone=${(created, reset) => { reset({ role: 'integration' }); setClient(created); clients.reload(); }}
      submitLabel=${t('admin.create')}>
      ${client && html`<p>${t('admin.client_id')}: <code>${client.client_id}</code></p>
        <${Secret} label=${t('admin.client_secret')} value=${client.client_secret} />`}
    </${Form}>
  `;
}

const eventTypes = (text) => (text ?? '').split(',').map((s) => s.trim()).filter(Boolean);

function Attempts({ delivery }) {
  const list = useLoad(`/v1/webhook-deliveries/${delivery.id}/attempts`, (body) => body);
  return html`<div class="panel-part">
    <${Failure} message=${list.error} />
    <${Table} caption=${t('admin.attempts_of', { type: delivery.event_type, id: delivery.event_id })} items=${list.value}
      columns=${[t('admin.attempt'), t('admin.at'), t('admin.status'), t('admin.duration'), t('admin.error')]}
      row=${(a) => [String(a.attempt), when(a.at), a.status == null ? '' : String(a.status), `${a.duration_ms} ms`,
        a.error ?? ''] } />
  </div>`;
}

function Deliveries({ subscription }) {
  const list = useLoad(`/v1/webhook-deliveries?subscription_id=${subscription.id}&limit=50`);
  const [open, setOpen] = useState(null);
  const [notice, setNotice] = useState(null);
  const { alert, run } = useSubmit([]);
  async function replay(delivery) {
    setNotice(null);
    if (await run(() => api('POST', `/v1/webhook-deliveries/${delivery.id}/replay`))) {
      setNotice(t('admin.replayed_one'));
      list.reload();
    }
  }
  const current = list.value?.find((d) => d.id === open);
  return html`<div class="panel-part">
    <h3>${t('admin.deliveries')}</h3>
    <${Failure} message=${list.error ?? alert} />
    <p role="status">${notice ?? ''}</p>
    <${Table} caption=${t('admin.deliveries_of', { url: subscription.url })} items=${list.value} empty=${t('admin.no_deliveries')}
      columns=${[t('admin.event'), t('admin.state'), t('admin.attempts'), t('admin.last_answer'), t('admin.created'), t('admin.actions')]}
      row=${(d) => [`${d.event_type} #${d.event_id}`, d.state, String(d.attempts), d.last_status == null ? (d.last_error ?? '') : String(d.last_status),
        when(d.created_at), html`<span class="actions">
          <button type="button" class="secondary" aria-label=${t('admin.attempts_named', { id: d.event_id })}
            onClick=${() => setOpen(d.id)}>${t('admin.attempts')}</button>
          <button type="button" class="secondary" aria-label=${t('admin.replay_named', { id: d.event_id })}
            onClick=${() => replay(d)}>${t('admin.replay')}</button>
        </span>`]} />
    <button type="button" class="secondary" onClick=${list.reload}>${t('admin.refresh')}</button>
    ${current && html`<${Attempts} key=${current.id} delivery=${current} />`}
  </div>`;
}

function Subscription({ subscription, onChanged }) {
  const [secret, setSecret] = useState(null);
  const [notice, setNotice] = useState(null);
  const rotate = useSubmit([]);
  async function rotateSecret() {
    const answer = await rotate.run(() => api('POST', `/v1/webhook-subscriptions/${subscription.id}/rotate-secret`, {}));
    if (answer) setSecret(answer.secret);
  }
  // A day ago, as the datetime-local input writes it: local time, without a zone.
  const dayAgo = new Date(Date.now() - 86_400_000);
  const since = new Date(dayAgo.getTime() - dayAgo.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
  return html`<section class="panel" aria-labelledby="subscription-title">
    <h3 id="subscription-title" class="panel-title">${t('admin.subscription_named', { url: subscription.url })}</h3>
    <${Form} title=${t('admin.edit_subscription')}
      initial=${{ url: subscription.url, description: subscription.description ?? '',
        event_types: subscription.event_types.join(', '), enabled: !subscription.disabled_at }}
      fields=${[
        { path: 'url', label: t('admin.url'), type: 'url' },
        { path: 'description', label: t('admin.description') },
        { path: 'event_types', label: t('admin.event_types'), hint: t('admin.event_types_hint') },
        { path: 'enabled', label: t('admin.enabled'), type: 'checkbox' },
      ]}
      submit=${(v) => api('PATCH', `/v1/webhook-subscriptions/${subscription.id}`, { url: v.url,
        description: v.description || undefined, event_types: eventTypes(v.event_types), enabled: v.enabled })}
      onDone=${onChanged} />
    <div class="panel-part">
      <h3>${t('admin.secret')}</h3>
      <p class="hint">${t('admin.rotate_hint')}</p>
      <button type="button" class="secondary" disabled=${rotate.busy} onClick=${rotateSecret}>${t('admin.rotate')}</button>
      ${rotate.alert && html`<p role="alert" class="error">${rotate.alert}</p>`}
      <${Secret} label=${t('admin.signing_secret')} value=${secret} />
    </div>
    <${Form} title=${t('admin.replay_range')} initial=${{ since, until: '', include_delivered: false }}
      fields=${[
        { path: 'since', label: t('admin.since'), type: 'datetime-local' },
        { path: 'until', label: t('admin.until'), type: 'datetime-local', hint: t('admin.until_hint') },
        { path: 'include_delivered', label: t('admin.include_delivered'), type: 'checkbox' },
      ]}
      submit=${(v) => api('POST', `/v1/webhook-subscriptions/${subscription.id}/replay`, {
        since: v.since ? new Date(v.since).toISOString() : '', until: v.until ? new Date(v.until).toISOString() : undefined,
        include_delivered: Boolean(v.include_delivered) })}
      onDone=${(answer) => setNotice(t('admin.replayed', { n: answer.replayed }))}
      submitLabel=${t('admin.replay')}>
      <p role="status">${notice ?? ''}</p>
    </${Form}>
    <${Deliveries} subscription=${subscription} />
  </section>`;
}

export function Webhooks() {
  const list = useAll('/v1/webhook-subscriptions');
  const [open, setOpen] = useState(null);
  const [secret, setSecret] = useState(null);
  const [error, setError] = useState(null);
  const current = list.value?.find((s) => s.id === open);
  return html`
    <${Failure} message=${list.error ?? error} />
    <${Table} caption=${t('admin.subscriptions')} items=${list.value}
      columns=${[t('admin.url'), t('admin.description'), t('admin.event_types'), t('admin.state'), t('admin.actions')]}
      row=${(s) => [s.url, s.description ?? '', s.event_types.length ? s.event_types.join(', ') : t('admin.all_events'),
        s.disabled_at ? t('admin.disabled', { reason: s.disabled_reason ?? '' }) : t('admin.active'),
        html`<span class="actions">
          <button type="button" class="secondary" aria-label=${t('admin.settings_named', { name: s.url })}
            onClick=${() => setOpen(s.id)}>${t('admin.settings')}</button>
          <${DeleteButton} text=${t('admin.delete')} label=${t('admin.delete_named', { name: s.url })}
            question=${t('admin.delete_confirm', { name: s.url })} path=${`/v1/webhook-subscriptions/${s.id}`}
            onDone=${() => { if (open === s.id) setOpen(null); list.reload(); }} setError=${setError} />
        </span>`]} />
    ${current && html`<${Subscription} key=${current.id} subscription=${current} onChanged=${list.reload} />`}
    <${Form} title=${t('admin.new_subscription')} initial=${{}}
      fields=${[
        { path: 'url', label: t('admin.url'), type: 'url' },
        { path: 'description', label: t('admin.description') },
        { path: 'event_types', label: t('admin.event_types'), hint: t('admin.event_types_hint') },
      ]}
      submit=${(v) => api('POST', '/v1/webhook-subscriptions', { url: v.url, description: v.description || undefined,
        event_types: eventTypes(v.event_types) })}
      onDone=${(created, reset) => { reset({}); setSecret(created.secret); list.reload(); }}
      submitLabel=${t('admin.create')}>
      <${Secret} label=${t('admin.signing_secret')} value=${secret} />
    </${Form}>
  `;
}
