// Channels (with the address a provider or integrator sends to), workstreams with their route-to-queue rules, and
// queues with members, assignment, operating hours, overflow and the conversations they hold.
import { api } from '../api.js';
import { t } from '../text.js';
import { html, useEffect, useState } from '../view.js';
import { Copy, Failure, Field, Form, Table, names, options, useAll, useLoad, useSubmit, when } from './kit.js';

const CHANNEL_TYPES = ['messaging_api', 'live_chat', 'direct_line', 'bot_framework', 'google_business_messages', 'sms',
  'whatsapp', 'voice'];
const WORK_TYPES = ['messaging', 'voice', 'record'];
const DAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];

const plain = (list) => list.map((v) => [v, v]);

/// Where a channel's traffic comes in: the Messaging API's base, or a live chat's page and embed tag.
function endpoints(channel) {
  const origin = location.origin;
  if (channel.channel_type === 'messaging_api') return [[t('admin.endpoint_api'), `${origin}/api/v1.0/consumer`]];
  if (channel.channel_type === 'live_chat') {
    return [
      [t('admin.endpoint_chat'), `${origin}/chat/${channel.id}`],
      [t('admin.endpoint_embed'),
        `<script src="${origin}/chat/embed.js" data-channel="${channel.id}" async></script>`],
    ];
  }
  return [];
}

function Endpoints({ channel }) {
  const list = endpoints(channel);
  if (list.length === 0) return html`<span class="muted">${t('admin.endpoint_none')}</span>`;
  return html`<dl class="endpoints">${list.map(([label, url]) => html`
    <dt>${label}</dt>
    <dd><code>${url}</code> <${Copy} text=${url} label=${t('admin.copy_named', { name: `${channel.name}: ${label}` })} /></dd>`)}
  </dl>`;
}

function EditButton({ name, onClick }) {
  return html`<button type="button" class="secondary" aria-label=${t('admin.edit_named', { name })}
    onClick=${onClick}>${t('admin.edit')}</button>`;
}

/// A live chat's pre-chat questions as the form edits them: one a line, `key | label`, `| required` at the end.
function questionsText(fields = []) {
  return fields.map((f) => [f.key, f.label, ...(f.required ? ['required'] : [])].join(' | ')).join('\n');
}

function questionsOf(text) {
  return text.split('\n').map((line) => line.trim()).filter(Boolean).map((line) => {
    const [key = '', label = '', required = ''] = line.split('|').map((part) => part.trim());
    return { key, label, required: required.toLowerCase() === 'required' };
  });
}

function linesOf(text) {
  return text.split('\n').map((line) => line.trim()).filter(Boolean);
}

/// The settings a form's values give, by the channel's type.
function channelSettings(type, v) {
  if (type === 'live_chat') {
    return { settings: {
      allowed_origins: linesOf(v['settings.allowed_origins'] ?? ''),
      pre_chat_fields: questionsOf(v['settings.pre_chat_fields'] ?? ''),
    } };
  }
  return v['settings.webhook_url'] || v['settings.app_id']
    ? { settings: { webhook_url: v['settings.webhook_url'] || undefined, app_id: v['settings.app_id'] || undefined } }
    : {};
}

function liveChatFields() {
  return [
    { path: 'settings.allowed_origins', label: t('admin.allowed_origins'), type: 'textarea',
      hint: t('admin.allowed_origins_hint') },
    { path: 'settings.pre_chat_fields', label: t('admin.pre_chat_fields'), type: 'textarea',
      hint: t('admin.pre_chat_fields_hint') },
  ];
}

export function Channels() {
  const channels = useAll('/v1/channels');
  const workstreams = useAll('/v1/workstreams');
  const [editing, setEditing] = useState(null);
  const wsNames = names(workstreams.value);
  const wsOptions = options(workstreams.value, undefined, t('admin.choose'));
  const current = channels.value?.find((c) => c.id === editing);
  return html`
    <${Failure} message=${channels.error ?? workstreams.error} />
    <${Table} caption=${t('admin.channels')} items=${channels.value}
      columns=${[t('admin.name'), t('admin.type'), t('admin.workstream'), t('admin.endpoint'), t('admin.actions')]}
      row=${(c) => [c.name, c.channel_type, wsNames[c.workstream_id] ?? c.workstream_id, html`<${Endpoints} channel=${c} />`,
        html`<${EditButton} name=${c.name} onClick=${() => setEditing(c.id)} />`]} />
    ${current && html`<${Form} key=${current.id} title=${t('admin.edit_named', { name: current.name })}
      initial=${{ name: current.name, workstream_id: current.workstream_id,
        'settings.webhook_url': current.settings?.webhook_url ?? '', 'settings.app_id': current.settings?.app_id ?? '',
        'settings.allowed_origins': (current.settings?.allowed_origins ?? []).join('\n'),
        'settings.pre_chat_fields': questionsText(current.settings?.pre_chat_fields) }}
      fields=${[
        { path: 'name', label: t('admin.name') },
        { path: 'workstream_id', label: t('admin.workstream'), type: 'select', options: wsOptions },
        ...(current.channel_type === 'messaging_api' ? [
          { path: 'settings.webhook_url', label: t('admin.webhook_url'), type: 'url', hint: t('admin.webhook_url_hint') },
          { path: 'settings.app_id', label: t('admin.app_id') }] : []),
        ...(current.channel_type === 'live_chat' ? liveChatFields() : []),
      ]}
      submit=${(v) => api('PATCH', `/v1/channels/${current.id}`,
        { name: v.name, workstream_id: v.workstream_id, ...channelSettings(current.channel_type, v) })}
      onDone=${() => { setEditing(null); channels.reload(); }} />`}
    <${Form} title=${t('admin.new_channel')} initial=${{ channel_type: 'messaging_api' }}
      fields=${[
        { path: 'name', label: t('admin.name') },
        { path: 'channel_type', label: t('admin.type'), type: 'select', options: plain(CHANNEL_TYPES) },
        { path: 'workstream_id', label: t('admin.workstream'), type: 'select', options: wsOptions },
        { path: 'settings.webhook_url', label: t('admin.webhook_url'), type: 'url', hint: t('admin.webhook_url_hint') },
      ]}
      submit=${(v) => api('POST', '/v1/channels', { name: v.name, channel_type: v.channel_type, workstream_id: v.workstream_id,
        ...channelSettings(v.channel_type, v) })}
      onDone=${(_, reset) => { reset({ channel_type: 'messaging_api' }); channels.reload(); }}
      submitLabel=${t('admin.create')} />
  `;
}

/// The route-to-queue rules of a workstream: the context variables they may read, then each condition and its
/// queue, in order (the first that holds routes). Classification rulesets are kept as they are.
function Rules({ workstream, queues }) {
  const doc = useLoad(`/v1/workstreams/${workstream.id}/rules`, (body) => body);
  const [vars, setVars] = useState(null);
  const [rules, setRules] = useState(null);
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    if (!doc.value) return;
    setVars(Object.entries(doc.value.context_variables ?? {}).map(([name, kind]) => ({ name, kind })));
    setRules((doc.value.route_to_queue?.rules ?? []).map((r) => ({ ...r })));
  }, [doc.value]);
  const paths = [
    ...(vars ?? []).map((v) => `context_variables.${v.name}`),
    ...(rules ?? []).flatMap((_, i) => ['name', 'condition', 'queue'].map((f) => `route_to_queue.rules[${i}].${f}`)),
  ];
  const { errors, alert, busy, run } = useSubmit(paths);
  if (doc.error) return html`<${Failure} message=${doc.error} />`;
  if (!vars || !rules) return html`<p>${t('app.loading')}</p>`;
  const setVar = (i, change) => setVars(vars.map((v, j) => (j === i ? { ...v, ...change } : v)));
  const setRule = (i, change) => setRules(rules.map((r, j) => (j === i ? { ...r, ...change } : r)));
  async function save(event) {
    event.preventDefault();
    setSaved(false);
    const body = {
      ...doc.value,
      context_variables: Object.fromEntries(vars.filter((v) => v.name.trim()).map((v) => [v.name.trim(), v.kind])),
      route_to_queue: { ...doc.value.route_to_queue, rules: rules.map((r) => {
        const rule = { ...r, name: r.name || undefined };
        if (!rule.split) rule.queue = r.queue || undefined;
        return rule;
      }) },
    };
    const answer = await run(() => api('PUT', `/v1/workstreams/${workstream.id}/rules`, body));
    if (answer) setSaved(true);
  }
  return html`<form class="admin-form" aria-labelledby="rules-title" onSubmit=${save} noValidate>
    <h3 id="rules-title">${t('admin.rules_of', { name: workstream.name })}</h3>
    <p class="hint">${t('admin.rules_hint')}</p>
    <fieldset><legend>${t('admin.context_variables')}</legend>
      ${vars.map((v, i) => html`<div class="row" role="group" aria-label=${t('admin.variable_n', { n: i + 1 })}>
        <${Field} label=${t('admin.variable_name')} path=${`context_variables.${v.name}`} errors=${errors} value=${v.name}
          onValue=${(name) => setVar(i, { name })} />
        <${Field} label=${t('admin.variable_kind')} type="select" options=${[['text', t('admin.kind.text')], ['number', t('admin.kind.number')]]}
          value=${v.kind} onValue=${(kind) => setVar(i, { kind })} />
        <button type="button" class="secondary" onClick=${() => setVars(vars.filter((_, j) => j !== i))}>${t('admin.remove')}</button>
      </div>`)}
      <button type="button" class="secondary" onClick=${() => setVars([...vars, { name: '', kind: 'text' }])}>${t('admin.add_variable')}</button>
    </fieldset>
    <fieldset><legend>${t('admin.route_rules')}</legend>
      ${rules.map((r, i) => html`<div class="row" role="group" aria-label=${t('admin.rule_n', { n: i + 1 })}>
        <${Field} label=${t('admin.rule_name')} path=${`route_to_queue.rules[${i}].name`} errors=${errors} value=${r.name ?? ''}
          onValue=${(name) => setRule(i, { name })} />
        <${Field} label=${t('admin.condition')} path=${`route_to_queue.rules[${i}].condition`} errors=${errors}
          value=${r.condition} onValue=${(condition) => setRule(i, { condition })} />
        ${r.split ? html`<p>${t('admin.rule_split')}</p>` : html`<${Field} label=${t('admin.queue')} type="select"
          path=${`route_to_queue.rules[${i}].queue`} errors=${errors} value=${r.queue ?? ''}
          options=${options(queues, undefined, t('admin.choose'))} onValue=${(queue) => setRule(i, { queue })} />`}
        <button type="button" class="secondary" onClick=${() => setRules(rules.filter((_, j) => j !== i))}>${t('admin.remove')}</button>
      </div>`)}
      <button type="button" class="secondary" onClick=${() => setRules([...rules, { name: '', condition: '', queue: '' }])}>${t('admin.add_rule')}</button>
    </fieldset>
    ${alert && html`<p role="alert" class="error">${alert}</p>`}
    <p role="status">${saved ? t('admin.saved') : ''}</p>
    <button type="submit" disabled=${busy}>${t('admin.save_rules')}</button>
  </form>`;
}

export function Workstreams() {
  const workstreams = useAll('/v1/workstreams');
  const queues = useAll('/v1/queues');
  const [editing, setEditing] = useState(null);
  const queueNames = names(queues.value);
  const fallback = options(queues.value, undefined, t('admin.no_fallback'));
  const current = workstreams.value?.find((w) => w.id === editing);
  return html`
    <${Failure} message=${workstreams.error ?? queues.error} />
    <${Table} caption=${t('admin.workstreams')} items=${workstreams.value}
      columns=${[t('admin.name'), t('admin.type'), t('admin.distribution'), t('admin.fallback_queue'), t('admin.actions')]}
      row=${(w) => [w.name, w.workstream_type, w.distribution, queueNames[w.fallback_queue_id] ?? '',
        html`<${EditButton} name=${w.name} onClick=${() => setEditing(w.id)} />`]} />
    ${current && html`<div class="panel" key=${current.id}>
      <${Form} title=${t('admin.edit_named', { name: current.name })}
        initial=${{ name: current.name, distribution: current.distribution, fallback_queue_id: current.fallback_queue_id ?? '' }}
        fields=${[
          { path: 'name', label: t('admin.name') },
          { path: 'distribution', label: t('admin.distribution'), type: 'select', options: plain(['push', 'pick']) },
          { path: 'fallback_queue_id', label: t('admin.fallback_queue'), type: 'select', options: fallback },
        ]}
        submit=${(v) => api('PATCH', `/v1/workstreams/${current.id}`, { name: v.name, distribution: v.distribution,
          fallback_queue_id: v.fallback_queue_id || null })}
        onDone=${() => workstreams.reload()} />
      <${Rules} workstream=${current} queues=${queues.value} />
    </div>`}
    <${Form} title=${t('admin.new_workstream')} initial=${{ workstream_type: 'messaging', distribution: 'push' }}
      fields=${[
        { path: 'name', label: t('admin.name') },
        { path: 'workstream_type', label: t('admin.type'), type: 'select', options: plain(WORK_TYPES) },
        { path: 'distribution', label: t('admin.distribution'), type: 'select', options: plain(['push', 'pick']) },
        { path: 'fallback_queue_id', label: t('admin.fallback_queue'), type: 'select', options: fallback },
      ]}
      submit=${(v) => api('POST', '/v1/workstreams', { name: v.name, workstream_type: v.workstream_type,
        distribution: v.distribution, fallback_queue_id: v.fallback_queue_id || undefined,
        settings: { routing: { enabled: true } } })}
      onDone=${(_, reset) => { reset({ workstream_type: 'messaging', distribution: 'push' }); workstreams.reload(); }}
      submitLabel=${t('admin.create')} />
  `;
}

function Members({ queue, agents }) {
  const members = useLoad(`/v1/queues/${queue.id}/members`);
  const [chosen, setChosen] = useState(null);
  const [saved, setSaved] = useState(false);
  const { alert, busy, run } = useSubmit([]);
  useEffect(() => { if (members.value) setChosen(members.value.map((m) => m.user_id)); }, [members.value]);
  if (!chosen || !agents) return html`<${Failure} message=${members.error} />`;
  async function save(event) {
    event.preventDefault();
    setSaved(false);
    if (await run(() => api('PUT', `/v1/queues/${queue.id}/members`, { user_ids: chosen }))) setSaved(true);
  }
  const toggle = (id, on) => setChosen(on ? [...chosen, id] : chosen.filter((c) => c !== id));
  return html`<form class="admin-form" onSubmit=${save} aria-labelledby="members-title">
    <h3 id="members-title">${t('admin.members')}</h3>
    <fieldset><legend>${t('admin.members_hint')}</legend>
      ${agents.length === 0 && html`<p class="empty">${t('admin.no_agents')}</p>`}
      ${agents.map((a) => html`<${Field} type="checkbox" label=${a.name} value=${chosen.includes(a.id)}
        onValue=${(on) => toggle(a.id, on)} />`)}
    </fieldset>
    ${alert && html`<p role="alert" class="error">${alert}</p>`}
    <p role="status">${saved ? t('admin.saved') : ''}</p>
    <button type="submit" disabled=${busy}>${t('admin.save_members')}</button>
  </form>`;
}

/// Assignment method and operating hours: the time zone and each weekday's open intervals (holidays are kept).
function Hours({ queue, routing, onSaved }) {
  const [method, setMethod] = useState(routing.assignment_method);
  const [open, setOpen] = useState(!routing.calendar);
  const [zone, setZone] = useState(routing.calendar?.time_zone ?? 'UTC');
  const [week, setWeek] = useState(Object.fromEntries(DAYS.map((d) => [d, routing.calendar?.weekly?.[d] ?? []])));
  const [saved, setSaved] = useState(false);
  const paths = ['assignment_method', 'calendar', 'calendar.time_zone',
    ...DAYS.flatMap((d) => week[d].flatMap((_, i) => [`calendar.weekly.${d}[${i}].start`, `calendar.weekly.${d}[${i}].end`]))];
  const { errors, alert, busy, run } = useSubmit(paths);
  const setDay = (day, list) => setWeek({ ...week, [day]: list });
  async function save(event) {
    event.preventDefault();
    setSaved(false);
    const calendar = open ? null : { ...routing.calendar, time_zone: zone, weekly: week };
    const answer = await run(() => api('PATCH', `/v1/queues/${queue.id}`, { assignment_method: method, calendar }));
    if (answer) {
      setSaved(true);
      onSaved(answer.routing);
    }
  }
  return html`<form class="admin-form" onSubmit=${save} aria-labelledby="hours-title" noValidate>
    <h3 id="hours-title">${t('admin.hours')}</h3>
    <${Field} label=${t('admin.assignment_method')} path="assignment_method" errors=${errors} type="select" value=${method}
      options=${['highest_capacity', 'round_robin', 'most_idle', ...(method === 'custom' ? ['custom'] : [])].map((m) => [m, t(`admin.method.${m}`)])}
      onValue=${setMethod} />
    <${Field} type="checkbox" label=${t('admin.always_open')} path="calendar" errors=${errors} value=${open} onValue=${setOpen} />
    ${!open && html`
      <${Field} label=${t('admin.time_zone')} path="calendar.time_zone" errors=${errors} value=${zone} onValue=${setZone}
        hint=${t('admin.time_zone_hint')} />
      ${DAYS.map((day) => html`<fieldset class="day"><legend>${t(`admin.day.${day}`)}</legend>
        ${week[day].length === 0 && html`<p class="muted">${t('admin.closed')}</p>`}
        ${week[day].map((h, i) => html`<div class="row" role="group" aria-label=${t('admin.interval_n', { n: i + 1 })}>
          <${Field} label=${t('admin.opens')} path=${`calendar.weekly.${day}[${i}].start`} errors=${errors} value=${h.start}
            placeholder="09:00" onValue=${(start) => setDay(day, week[day].map((x, j) => (j === i ? { ...x, start } : x)))} />
          <${Field} label=${t('admin.closes')} path=${`calendar.weekly.${day}[${i}].end`} errors=${errors} value=${h.end}
            placeholder="17:00" onValue=${(end) => setDay(day, week[day].map((x, j) => (j === i ? { ...x, end } : x)))} />
          <button type="button" class="secondary" onClick=${() => setDay(day, week[day].filter((_, j) => j !== i))}>${t('admin.remove')}</button>
        </div>`)}
        <button type="button" class="secondary" aria-label=${t('admin.add_interval_on', { day: t(`admin.day.${day}`) })}
          onClick=${() => setDay(day, [...week[day], { start: '09:00', end: '17:00' }])}>${t('admin.add_interval')}</button>
      </fieldset>`)}
      ${routing.calendar?.holidays?.length > 0 && html`<p class="hint">${t('admin.holidays_kept', { n: routing.calendar.holidays.length })}</p>`}`}
    ${alert && html`<p role="alert" class="error">${alert}</p>`}
    <p role="status">${saved ? t('admin.saved') : ''}</p>
    <button type="submit" disabled=${busy}>${t('admin.save_hours')}</button>
  </form>`;
}

const CONDITIONS = { out_of_operating_hours: null, work_item_limit_exceeded: 'limit', estimated_wait_exceeds: 'seconds',
  wait_in_queue_exceeds: 'seconds' };
const ACTIONS = ['assign_anyway', 'transfer_to_queue', 'end_conversation', 'offer_callback'];

/// The overflow rules: a condition (with its limit or seconds) and what to do then.
function Overflow({ queue, routing, queues, onSaved }) {
  const [rules, setRules] = useState(routing.overflow?.rules ?? []);
  const [saved, setSaved] = useState(false);
  const paths = rules.flatMap((r, i) => {
    const at = `overflow.rules[${i}]`;
    const amount = CONDITIONS[r.condition.type];
    return [`${at}.condition`, ...(amount ? [`${at}.condition.${amount}`] : []), `${at}.action`, `${at}.action.queue_id`,
      `${at}.action.message`];
  });
  const { errors, alert, busy, run } = useSubmit(paths);
  const set = (i, rule) => setRules(rules.map((r, j) => (j === i ? rule : r)));
  async function save(event) {
    event.preventDefault();
    setSaved(false);
    const answer = await run(() => api('PATCH', `/v1/queues/${queue.id}`, { overflow: { rules } }));
    if (answer) {
      setSaved(true);
      onSaved(answer.routing);
    }
  }
  const others = options(queues.filter((q) => q.id !== queue.id), undefined, t('admin.choose'));
  return html`<form class="admin-form" onSubmit=${save} aria-labelledby="overflow-title" noValidate>
    <h3 id="overflow-title">${t('admin.overflow')}</h3>
    ${rules.length === 0 && html`<p class="muted">${t('admin.no_overflow')}</p>`}
    ${rules.map((r, i) => {
      const at = `overflow.rules[${i}]`;
      const amount = CONDITIONS[r.condition.type];
      return html`<div class="row" role="group" aria-label=${t('admin.rule_n', { n: i + 1 })}>
        <${Field} label=${t('admin.when')} type="select" path=${`${at}.condition`} errors=${errors} value=${r.condition.type}
          options=${Object.keys(CONDITIONS).map((c) => [c, t(`admin.condition.${c}`)])}
          onValue=${(type) => set(i, { ...r, condition: CONDITIONS[type] ? { type, [CONDITIONS[type]]: 0 } : { type } })} />
        ${amount && html`<${Field} label=${t(`admin.amount.${amount}`)} type="number" path=${`${at}.condition.${amount}`}
          errors=${errors} value=${r.condition[amount]}
          onValue=${(v) => set(i, { ...r, condition: { ...r.condition, [amount]: Number(v) } })} />`}
        <${Field} label=${t('admin.then')} type="select" path=${`${at}.action`} errors=${errors} value=${r.action.type}
          options=${ACTIONS.map((a) => [a, t(`admin.action.${a}`)])} onValue=${(type) => set(i, { ...r, action: { type } })} />
        ${r.action.type === 'transfer_to_queue' && html`<${Field} label=${t('admin.queue')} type="select"
          path=${`${at}.action.queue_id`} errors=${errors} value=${r.action.queue_id ?? ''} options=${others}
          onValue=${(queue_id) => set(i, { ...r, action: { ...r.action, queue_id } })} />`}
        ${['end_conversation', 'offer_callback'].includes(r.action.type) && html`<${Field} label=${t('admin.message')}
          path=${`${at}.action.message`} errors=${errors} value=${r.action.message ?? ''}
          onValue=${(message) => set(i, { ...r, action: { ...r.action, message: message || undefined } })} />`}
        <button type="button" class="secondary" onClick=${() => setRules(rules.filter((_, j) => j !== i))}>${t('admin.remove')}</button>
      </div>`;
    })}
    <button type="button" class="secondary" onClick=${() => setRules([...rules,
      { condition: { type: 'work_item_limit_exceeded', limit: 10 }, action: { type: 'assign_anyway' } }])}>${t('admin.add_overflow')}</button>
    ${alert && html`<p role="alert" class="error">${alert}</p>`}
    <p role="status">${saved ? t('admin.saved') : ''}</p>
    <button type="submit" disabled=${busy}>${t('admin.save_overflow')}</button>
  </form>`;
}

/// The conversations the queue holds now (all but closed ones), newest routing first as the API lists them.
function Waiting({ queue }) {
  const list = useLoad(`/v1/conversations?queue_id=${queue.id}&limit=50`);
  const live = list.value?.filter((c) => c.state !== 'closed');
  return html`<div class="panel-part">
    <h3 id="waiting-title">${t('admin.in_queue')}</h3>
    <${Failure} message=${list.error} />
    <${Table} caption=${t('admin.in_queue_of', { name: queue.name })} items=${live} empty=${t('admin.queue_empty')}
      columns=${[t('admin.conversation'), t('admin.state'), t('admin.created')]}
      row=${(c) => [c.subject || c.customer_key || c.id, t(`state.${c.state}`), when(c.created_at)]} />
    <button type="button" class="secondary" onClick=${list.reload}>${t('admin.refresh')}</button>
  </div>`;
}

function QueueSettings({ queue, queues, agents }) {
  const loaded = useLoad(`/v1/queues/${queue.id}/routing`, (body) => body.routing);
  const [routing, setRouting] = useState(null);
  useEffect(() => { if (loaded.value) setRouting(loaded.value); }, [loaded.value]);
  return html`<section class="panel" aria-labelledby="queue-title">
    <h3 id="queue-title" class="panel-title">${t('admin.queue_named', { name: queue.name })}</h3>
    <${Failure} message=${loaded.error} />
    <${Members} queue=${queue} agents=${agents} />
    ${routing && html`<${Hours} queue=${queue} routing=${routing} onSaved=${setRouting} />
      <${Overflow} queue=${queue} routing=${routing} queues=${queues} onSaved=${setRouting} />`}
    <${Waiting} queue=${queue} />
  </section>`;
}

export function Queues() {
  const queues = useAll('/v1/queues');
  const agents = useAll('/v1/users?role=agent');
  const [open, setOpen] = useState(null);
  const current = queues.value?.find((q) => q.id === open);
  return html`
    <${Failure} message=${queues.error ?? agents.error} />
    <${Table} caption=${t('admin.queues')} items=${queues.value}
      columns=${[t('admin.name'), t('admin.type'), t('admin.priority'), t('admin.updated'), t('admin.actions')]}
      row=${(q) => [q.name, q.queue_type, String(q.priority), when(q.updated_at),
        html`<button type="button" class="secondary" aria-label=${t('admin.settings_named', { name: q.name })}
          onClick=${() => setOpen(q.id)}>${t('admin.settings')}</button>`]} />
    ${current && html`<${QueueSettings} key=${current.id} queue=${current} queues=${queues.value} agents=${agents.value} />`}
    <${Form} title=${t('admin.new_queue')} initial=${{ queue_type: 'messaging', priority: '100' }}
      fields=${[
        { path: 'name', label: t('admin.name') },
        { path: 'queue_type', label: t('admin.type'), type: 'select', options: plain(WORK_TYPES) },
        { path: 'priority', label: t('admin.priority'), type: 'number', hint: t('admin.priority_hint') },
      ]}
      submit=${(v) => api('POST', '/v1/queues', { name: v.name, queue_type: v.queue_type, priority: Number(v.priority) })}
      onDone=${(created, reset) => { reset({ queue_type: 'messaging', priority: '100' }); queues.reload(); setOpen(created.id); }}
      submitLabel=${t('admin.create')} />
  `;
}
