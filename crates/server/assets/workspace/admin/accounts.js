// Messaging accounts (seed 002): an account of a kind (for the Bot Framework, the Microsoft app id and client
// secret), validated with its provider, and the channels added to it, each bound to a workstream with its language
// and attachment permissions, and the messaging endpoint URL to paste into the provider's console.
import { api } from '../api.js';
import { t } from '../text.js';
import { html, useState } from '../view.js';
import { Copy, Failure, Form, Table, names, options, useAll, when } from './kit.js';

const KINDS = ['bot_framework', 'direct_line', 'messaging_api', 'live_chat'];

/// The body of a new account from the form: the Bot Framework's method, app id and secret only for its kind.
function accountBody(v) {
  const body = { name: v.name, kind: v.kind };
  if (v.kind !== 'bot_framework') return body;
  return {
    ...body,
    method: v.method || undefined,
    settings: { app_id: v['settings.app_id'] || undefined },
    credentials: { client_secret: v['credentials.client_secret'] || undefined },
  };
}

function validationText(account) {
  const v = account.validation;
  if (!v || v.state === 'unchecked') return t('accounts.unchecked');
  if (v.state === 'valid') return t('accounts.valid', { when: when(v.checked_at) });
  return t('accounts.invalid', { reason: v.reason ?? '' });
}

/// Validates an account with its provider and says what it found, where screen readers hear it.
function ValidateButton({ account, onDone }) {
  const [busy, setBusy] = useState(false);
  const [said, setSaid] = useState('');
  async function validate() {
    setBusy(true);
    setSaid('');
    try {
      const answer = await api('POST', `/v1/messaging-accounts/${account.id}/validate`);
      setSaid(validationText(answer));
      onDone();
    } catch (failure) {
      if (failure.status !== 401) setSaid(failure.message);
    } finally {
      setBusy(false);
    }
  }
  return html`<span class="validate">
    <button type="button" class="secondary" disabled=${busy} aria-label=${t('accounts.validate_named', { name: account.name })}
      onClick=${validate}>${t('accounts.validate')}</button>
    <span role="status">${said}</span>
  </span>`;
}

function EndpointUrl({ channel }) {
  const url = channel.messaging_endpoint_url;
  if (!url) return html`<span class="muted">${t('admin.endpoint_none')}</span>`;
  return html`<code>${url}</code> <${Copy} text=${url}
    label=${t('admin.copy_named', { name: `${channel.name}: ${t('accounts.endpoint')}` })} />
    ${channel.channel_type === 'messaging_api' && html`<small class="hint">${t('accounts.channel_id_header', { id: channel.id })}</small>`}`;
}

function permissions(channel) {
  const who = [channel.attachments?.customers && t('accounts.customers'), channel.attachments?.agents && t('accounts.agents')];
  return who.filter(Boolean).join(', ') || t('admin.no');
}

/// One account's channels, and the form that adds one.
function AccountChannels({ account, workstreams }) {
  const channels = useAll(`/v1/messaging-accounts/${account.id}/channels`);
  const wsNames = names(workstreams);
  return html`<div class="account-channels">
    <h3>${t('accounts.channels_of', { name: account.name })}</h3>
    <${Failure} message=${channels.error} />
    <${Table} caption=${t('accounts.channels_of', { name: account.name })} items=${channels.value}
      columns=${[t('admin.name'), t('admin.workstream'), t('accounts.language'), t('accounts.attachments'), t('accounts.endpoint')]}
      row=${(c) => [c.name, wsNames[c.workstream_id] ?? c.workstream_id, c.language, permissions(c),
        html`<${EndpointUrl} channel=${c} />`]} />
    <${Form} key=${account.id} title=${t('accounts.add_channel')}
      initial=${{ language: 'en-US', 'attachments.customers': true, 'attachments.agents': true,
        'behaviours.wait_time_message': true }}
      fields=${[
        { path: 'name', label: t('admin.name') },
        { path: 'workstream_id', label: t('admin.workstream'), type: 'select',
          options: options(workstreams, undefined, t('admin.choose')) },
        { path: 'language', label: t('accounts.language'), hint: t('accounts.language_hint') },
        { path: 'behaviours.wait_time_message', label: t('accounts.wait_time_message'), type: 'checkbox' },
        { path: 'attachments.customers', label: t('accounts.customers_attach'), type: 'checkbox' },
        { path: 'attachments.agents', label: t('accounts.agents_attach'), type: 'checkbox' },
      ]}
      submit=${(v) => api('POST', `/v1/messaging-accounts/${account.id}/channels`, {
        name: v.name, workstream_id: v.workstream_id || undefined, language: v.language || undefined,
        behaviours: { wait_time_message: Boolean(v['behaviours.wait_time_message']) },
        attachments: { customers: Boolean(v['attachments.customers']), agents: Boolean(v['attachments.agents']) },
      })}
      onDone=${(_, reset) => { reset((now) => ({ ...now, name: '' })); channels.reload(); }}
      submitLabel=${t('accounts.add')} />
  </div>`;
}

export function MessagingAccounts() {
  const accounts = useAll('/v1/messaging-accounts');
  const workstreams = useAll('/v1/workstreams');
  const [open, setOpen] = useState(null);
  const current = accounts.value?.find((a) => a.id === open);
  return html`
    <p class="hint">${t('accounts.intro')}</p>
    <${Failure} message=${accounts.error ?? workstreams.error} />
    <${Table} caption=${t('accounts.list')} items=${accounts.value}
      columns=${[t('admin.name'), t('accounts.kind'), t('accounts.method'), t('accounts.validation'), t('admin.actions')]}
      row=${(a) => [a.name, t(`accounts.kind.${a.kind}`), a.method ? t(`accounts.method.${a.method}`) : '',
        validationText(a),
        html`<${ValidateButton} account=${a} onDone=${accounts.reload} />
          <button type="button" class="secondary" aria-label=${t('accounts.channels_named', { name: a.name })}
            onClick=${() => setOpen(a.id)}>${t('accounts.channels')}</button>`]} />
    ${current && html`<${AccountChannels} key=${current.id} account=${current} workstreams=${workstreams.value} />`}
    <${Form} title=${t('accounts.new')} initial=${{ kind: 'bot_framework', method: 'azure_bot_framework' }}
      fields=${[
        { path: 'name', label: t('admin.name') },
        { path: 'kind', label: t('accounts.kind'), type: 'select', options: KINDS.map((k) => [k, t(`accounts.kind.${k}`)]) },
        { path: 'method', label: t('accounts.method'), type: 'select', hint: t('accounts.bot_only'),
          options: [['azure_bot_framework', t('accounts.method.azure_bot_framework')]] },
        { path: 'settings.app_id', label: t('accounts.app_id'), hint: t('accounts.bot_only') },
        { path: 'credentials.client_secret', label: t('accounts.client_secret'), type: 'password',
          autocomplete: 'new-password', hint: t('accounts.secret_hint') },
      ]}
      submit=${(v) => api('POST', '/v1/messaging-accounts', accountBody(v))}
      onDone=${(created, reset) => {
        reset({ kind: 'bot_framework', method: 'azure_bot_framework' });
        accounts.reload();
        setOpen(created.id);
      }}
      submitLabel=${t('admin.create')} />
  `;
}
