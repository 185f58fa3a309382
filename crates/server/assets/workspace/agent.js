// The agent desktop: the agent's presence, the offers made to them with a countdown, their conversations by state,
// and the open conversation (transcript, typing both ways, reply, transfer, end, close, the customer's details and
// displayable context), kept live by the stream. The stream's events say what changed; the page reloads that part from the API,
// so a dropped connection that resumes (with the last event id) or resyncs never shows a stale or doubled item.
import { api, upload } from './api.js';
import { useLiveStream } from './stream.js';
import { t } from './text.js';
import { html, useEffect, useRef, useState } from './view.js';

const LIVE_TYPES = ['routing.*', 'conversation.*', 'agent.presence_changed', 'message.created', 'message.delivery_failed',
  'message.delivered', 'message.status_changed'];
const STATES = ['active', 'open', 'wrap_up', 'waiting'];

function useNow(ms) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

/// The organization's stream, as the agent desktop and the dashboard follow it.
export function useStream(onFrame) {
  return useLiveStream({
    path: (after) => {
      const query = new URLSearchParams({ types: LIVE_TYPES.join(',') });
      if (after !== null) query.set('after', String(after));
      return `/v1/stream?${query}`;
    },
    // A session that has ended is reported as every 401 is (the page's notice): no point in trying again.
    refused: () => api('GET', '/v1/sessions/current').then(() => false, (e) => e.status === 401),
    onFrame,
  });
}

const TYPING_SHOWN_MS = 6000;
const TYPING_SENT_EVERY_MS = 3000;

/// SMS and WhatsApp conversations: the customer's number, whether it opted out, and when WhatsApp stops taking
/// free-form replies; `null` for other channels (the API answers 404). Asked again when `version` changes (a
/// message from the customer reopens WhatsApp's window).
function usePhone(conversationId, version) {
  const [phone, setPhone] = useState(null);
  useEffect(() => setPhone(null), [conversationId]);
  useEffect(() => {
    api('GET', `/v1/conversations/${conversationId}/phone`).then(setPhone, () => setPhone(null));
  }, [conversationId, version]);
  return phone;
}

function Details({ conversation, phone }) {
  const [contact, setContact] = useState(null);
  const [context, setContext] = useState([]);
  useEffect(() => {
    setContact(null);
    setContext([]);
    if (conversation.contact_id) {
      api('GET', `/v1/contacts/${conversation.contact_id}`).then(setContact).catch(() => {});
    }
    api('GET', `/v1/conversations/${conversation.id}/context`)
      .then((list) => setContext(list.filter((v) => v.displayable)))
      .catch(() => {});
  }, [conversation.id]);
  const name = contact && ([contact.first_name, contact.last_name].filter(Boolean).join(' ') || contact.preferred_name);
  const rows = [
    [t('agent.customer_name'), name],
    [t('agent.customer_email'), contact?.email],
    [t('agent.customer_phone'), contact?.phone],
    [t('agent.customer_id'), contact?.customer_id],
    [t('agent.opted_out'), phone?.opted_out ? t('agent.opted_out_yes') : null],
    [t('agent.whatsapp_window'), phone?.window_ends_at && t(phone.window_closed ? 'agent.window_closed' : 'agent.window_open',
      { time: new Date(phone.window_ends_at).toLocaleString() })],
    ...context.map((v) => [v.name, typeof v.value === 'string' ? v.value : JSON.stringify(v.value)]),
  ].filter(([, value]) => value !== undefined && value !== null && value !== '');
  return html`<section class="details" aria-labelledby="details-title">
    <h3 id="details-title">${t('agent.details')}</h3>
    ${rows.length === 0 ? html`<p class="empty">${t('agent.no_details')}</p>` : html`<dl>
      ${rows.map(([label, value]) => html`<dt>${label}</dt><dd>${value}</dd>`)}
    </dl>`}
  </section>`;
}

/// Transfer to another queue (routed there) or to a colleague (offered to them), one target at a time.
function Transfer({ conversation, queues, agents, onDone }) {
  const [target, setTarget] = useState('');
  const [error, setError] = useState(null);
  const others = Object.entries(queues).filter(([id]) => id !== conversation.queue_id);
  if (others.length === 0 && agents.length === 0) return null;
  async function transfer(event) {
    event.preventDefault();
    setError(null);
    const [kind, id] = target.split(':');
    try {
      await api('POST', `/v1/conversations/${conversation.id}/transfer`, kind === 'agent' ? { agent_id: id } : { queue_id: id });
      setTarget('');
      onDone();
    } catch (failure) {
      setError(failure.message);
    }
  }
  return html`<form class="transfer" onSubmit=${transfer}>
    <label>${t('agent.transfer_to')}
      <select value=${target} onChange=${(e) => setTarget(e.currentTarget.value)} required>
        <option value="">${t('agent.choose_target')}</option>
        ${others.length > 0 && html`<optgroup label=${t('agent.queues')}>
          ${others.map(([id, name]) => html`<option value=${`queue:${id}`}>${name}</option>`)}
        </optgroup>`}
        ${agents.length > 0 && html`<optgroup label=${t('agent.agents')}>
          ${agents.map((a) => html`<option value=${`agent:${a.id}`}>${a.name}</option>`)}
        </optgroup>`}
      </select>
    </label>
    <button type="submit" class="secondary" disabled=${!target}>${t('agent.transfer')}</button>
    ${error && html`<p role="alert" class="error">${error}</p>`}
  </form>`;
}

/// Wrap-up: the agent notes why the conversation closed (its closure reason), then closes it.
function WrapUp({ busy, onClose }) {
  const [reason, setReason] = useState('');
  function close(event) {
    event.preventDefault();
    onClose(reason.trim() ? { reason: reason.trim() } : undefined);
  }
  return html`<form class="wrap-up" onSubmit=${close}>
    <label>${t('agent.close_reason')}
      <input value=${reason} maxlength="200" onInput=${(e) => setReason(e.currentTarget.value)} />
    </label>
    <button type="submit" disabled=${busy}>${t('agent.close')}</button>
  </form>`;
}

function Presence({ me }) {
  const [choices, setChoices] = useState([]);
  const [current, setCurrent] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    Promise.all([api('GET', '/v1/presences'), api('GET', `/v1/agents/${me}/presence`)])
      .then(([list, mine]) => {
        setChoices(list.data);
        setCurrent(mine.custom_presence?.id ?? mine.presence);
      })
      .catch((failure) => setError(failure.message));
  }, [me]);
  async function choose(event) {
    const select = event.currentTarget;
    setError(null);
    try {
      const mine = await api('PUT', `/v1/agents/${me}/presence`, { presence: select.value });
      setCurrent(mine.custom_presence?.id ?? mine.presence);
    } catch (failure) {
      // The choice did not take: show the presence the agent still has.
      select.value = current ?? '';
      setError(failure.message);
    }
  }
  return html`
    <label class="presence">${t('agent.presence')}
      <select value=${current ?? ''} onChange=${choose}>
        ${choices.map((p) => html`<option value=${p.id}>${p.name}</option>`)}
      </select>
    </label>
    ${error && html`<p role="alert" class="error">${error}</p>`}
  `;
}

function Countdown({ until }) {
  const now = useNow(1000);
  const seconds = Math.max(0, Math.round((Date.parse(until) - now) / 1000));
  return html`<span class="countdown">${t('agent.offer_expires', { seconds })}</span>`;
}

function conversationLabel(conversation) {
  return conversation?.subject || conversation?.customer_key || t('agent.conversation');
}

function Offers({ offers, conversations, queues, channels, onAnswer }) {
  if (offers.length === 0) return html`<p class="empty">${t('agent.no_offers')}</p>`;
  return html`<ul class="offers">
    ${offers.map((offer) => {
      const conversation = conversations[offer.conversation_id];
      return html`<li class="offer" aria-label=${t('agent.offer_label', { name: conversationLabel(conversation) })}>
        <strong>${conversationLabel(conversation)}</strong>
        <span>${t('agent.queue', { name: queues[offer.queue_id] ?? '' })}</span>
        ${conversation && channels[conversation.channel_id] && html`<span>${t('agent.channel', {
          name: channels[conversation.channel_id],
        })}</span>`}
        <${Countdown} until=${offer.expires_at} />
        <span class="actions">
          <button type="button" aria-keyshortcuts="Alt+A" onClick=${() => onAnswer(offer, 'accept')}>${t('agent.accept')}</button>
          <button type="button" class="secondary" onClick=${() => onAnswer(offer, 'reject')}>${t('agent.reject')}</button>
        </span>
      </li>`;
    })}
  </ul>`;
}

function Conversations({ list, openId, onOpen }) {
  const byState = STATES.map((state) => [state, list.filter((c) => c.state === state)]).filter(([, l]) => l.length);
  if (byState.length === 0) return html`<p class="empty">${t('agent.no_conversations')}</p>`;
  return byState.map(([state, items]) => html`
    <h3>${t(`state.${state}`)} (${items.length})</h3>
    <ul class="conversations">
      ${items.map((c) => html`<li>
        <button type="button" class="link" aria-current=${c.id === openId ? 'true' : undefined}
          onClick=${() => onOpen(c.id)}>${conversationLabel(c)}</button>
      </li>`)}
    </ul>`);
}

/// Messages in the order of the conversation's log, each once, however often it arrived (page load, live, replay).
export function merged(messages, more) {
  const byId = new Map(messages.map((m) => [m.id, m]));
  for (const m of more) byId.set(m.id, m);
  return [...byId.values()].sort((a, b) => a.sequence - b.sequence);
}

const SENDER_CLASS = { agent: 'from-agent', customer: 'from-customer', bot: 'from-bot', system: 'from-system' };

/// What a provider last said of a message the customer's side was sent, and the SMS segments it went as.
function DeliveryStatus({ status }) {
  if (!status) return null;
  const words = status.status ? t(`agent.status_${status.status}`) : t('agent.status_accepted');
  return html`<span class="delivery-status" data-status=${status.status ?? 'accepted'}>${words}${status.segments > 1
    ? ` · ${t('agent.segments', { count: status.segments })}` : ''}</span>`;
}

export function Transcript({ messages, failures, statuses = {} }) {
  const end = useRef(null);
  useEffect(() => end.current?.scrollIntoView({ block: 'end' }), [messages.length]);
  return html`<div role="log" aria-live="polite" aria-label=${t('agent.transcript')}><ol class="transcript">
    ${messages.map((m) => html`<li class=${SENDER_CLASS[m.sender.kind] ?? ''}>
      <span class="sender">${m.sender.name ?? t(`sender.${m.sender.kind}`)}</span>
      <span class="text">${m.text}</span>
      ${m.template && html`<span class="template">${t('agent.sent_as_template', {
        name: m.template.name ?? m.template.content_sid,
      })}</span>`}
      ${m.attachments.map((a) => html`<a class="attachment" href=${a.url} target="_blank" rel="noopener noreferrer">
        ${a.content_type.startsWith('image/')
          ? html`<img src=${a.url} alt=${a.name ?? t('agent.attachment')} loading="lazy" />`
          : (a.name ?? t('agent.attachment'))}
      </a>`)}
      <time datetime=${m.created_at}>${new Date(m.created_at).toLocaleTimeString()}</time>
      ${!failures[m.id] && html`<${DeliveryStatus} status=${statuses[m.id]} />`}
      ${failures[m.id] && html`<span class="undelivered" role="status">${t('agent.undelivered', {
        reason: failures[m.id].error ?? (failures[m.id].status ? `HTTP ${failures[m.id].status}` : ''),
      })}</span>`}
    </li>`)}
    <li ref=${end} class="end" aria-hidden="true"></li>
  </ol></div>`;
}

/// Inserts a quick reply's text where the cursor is in the reply being written (replacing a selection).
function QuickReplies({ replies, onInsert }) {
  if (replies.length === 0) return null;
  function choose(event) {
    const reply = replies.find((r) => r.id === event.currentTarget.value);
    event.currentTarget.value = '';
    if (reply) onInsert(reply.text);
  }
  return html`<label class="quick-replies">${t('agent.quick_reply')}
    <select onChange=${choose}>
      <option value="">${t('agent.choose_quick_reply')}</option>
      ${replies.map((r) => html`<option value=${r.id}>${r.title}</option>`)}
    </select>
  </label>`;
}

const CONTENT_SID = /^HX[0-9a-fA-F]{32}$/;

/// A WhatsApp template: what may still reach a customer once WhatsApp's 24-hour window has closed. Named as the
/// channel's provider names it: an approved template's name and language (Meta), or a content SID (`HX…`, Twilio);
/// the values of its numbered variables one a line; the text the transcript keeps of it.
function TemplateForm({ send, busy }) {
  const [name, setName] = useState('');
  const [language, setLanguage] = useState('en_US');
  const [values, setValues] = useState('');
  const [shown, setShown] = useState('');
  const sid = CONTENT_SID.test(name.trim());
  async function submit(event) {
    event.preventDefault();
    const parameters = values.split('\n').map((v) => v.trim()).filter(Boolean);
    const template = sid
      ? { content_sid: name.trim(), parameters }
      : { name: name.trim(), language: language.trim(), parameters };
    if (await send({ template, ...(shown.trim() ? { text: shown.trim() } : {}) })) {
      setValues('');
      setShown('');
    }
  }
  return html`<form class="template-form" onSubmit=${submit} aria-label=${t('agent.template')}>
    <label>${t('agent.template_name')}
      <input value=${name} required maxlength="512" onInput=${(e) => setName(e.currentTarget.value)} />
    </label>
    ${!sid && html`<label>${t('agent.template_language')}
      <input value=${language} required maxlength="8" onInput=${(e) => setLanguage(e.currentTarget.value)} />
    </label>`}
    <label>${t('agent.template_values')}
      <textarea rows="2" value=${values} onInput=${(e) => setValues(e.currentTarget.value)}></textarea>
    </label>
    <label>${t('agent.template_text')}
      <input value=${shown} maxlength="6000" onInput=${(e) => setShown(e.currentTarget.value)} />
    </label>
    <button type="submit" disabled=${busy || !name.trim()}>${t('agent.send_template')}</button>
  </form>`;
}

function ConversationPane({ conversation, messages, failures, statuses, onChanged, typing, onTyping, queues, agents,
  replies }) {
  const [text, setText] = useState('');
  const box = useRef(null);
  const lastTyping = useRef(0);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const writable = conversation.state === 'active';
  const customerWrote = messages.filter((m) => m.sender.kind === 'customer').length;
  const phone = usePhone(conversation.id, customerWrote);
  const whatsapp = Boolean(phone?.window_ends_at);
  const windowClosed = Boolean(phone?.window_closed);

  async function act(how, body) {
    setBusy(true);
    setError(null);
    try {
      await api('POST', `/v1/conversations/${conversation.id}/${how}`, body);
      onChanged();
      return true;
    } catch (failure) {
      setError(failure.message);
      return false;
    } finally {
      setBusy(false);
    }
  }

  async function send(event) {
    event?.preventDefault();
    if (!text.trim() || busy) return;
    if (await act('messages', { text })) setText('');
  }

  const [templateOpen, setTemplateOpen] = useState(false);
  async function sendTemplate(body) {
    const sent = await act('messages', body);
    if (sent) setTemplateOpen(false);
    return sent;
  }

  async function attach(event) {
    const files = [...event.currentTarget.files];
    event.currentTarget.value = '';
    setBusy(true);
    setError(null);
    try {
      // One message per file, in the order chosen; the first refusal stops the rest and says why.
      for (const file of files) {
        await upload(`/v1/conversations/${conversation.id}/attachments?${new URLSearchParams({ name: file.name })}`, file);
      }
    } catch (failure) {
      setError(failure.message);
    } finally {
      setBusy(false);
    }
  }

  function input(event) {
    setText(event.currentTarget.value);
    if (Date.now() - lastTyping.current > TYPING_SENT_EVERY_MS) {
      lastTyping.current = Date.now();
      onTyping(conversation.id);
    }
  }

  function insert(snippet) {
    const area = box.current;
    const [start, end] = area ? [area.selectionStart, area.selectionEnd] : [text.length, text.length];
    setText(text.slice(0, start) + snippet + text.slice(end));
    requestAnimationFrame(() => {
      area?.focus();
      area?.setSelectionRange(start + snippet.length, start + snippet.length);
    });
  }

  function keys(event) {
    // Enter sends, Shift+Enter starts a new line: as in every chat tool agents use.
    if (event.key === 'Enter' && !event.shiftKey) send(event);
  }

  return html`
    <h2 id="pane-title">${conversationLabel(conversation)}</h2>
    <p class="meta">${t(`state.${conversation.state}`)}</p>
    <div class="pane-body">
      <div>
        <${Transcript} messages=${messages} failures=${failures} statuses=${statuses} />
        <p class="typing" aria-live="polite">${typing ? t('agent.customer_typing') : ''}</p>
    ${writable && html`<form class="composer" onSubmit=${send}>
      <label>${t('agent.message')}
        <textarea ref=${box} rows="2" value=${text} onInput=${input} onKeyDown=${keys} aria-keyshortcuts="Enter"></textarea>
      </label>
      <button type="submit" disabled=${busy || !text.trim()}>${t('agent.send')}</button>
      <label class="file button secondary">${t('agent.attach')}
        <input type="file" multiple onChange=${attach} disabled=${busy} />
      </label>
    </form>`}
    ${writable && html`<${QuickReplies} replies=${replies} onInsert=${insert} />`}
    ${writable && windowClosed && html`<p class="notice" role="status">${t('agent.window_closed_notice')}</p>`}
    ${writable && whatsapp && html`<button type="button" class="secondary" aria-expanded=${templateOpen || windowClosed}
      onClick=${() => setTemplateOpen(!templateOpen)}>${t('agent.template')}</button>`}
    ${writable && whatsapp && (templateOpen || windowClosed) && html`<${TemplateForm} send=${sendTemplate} busy=${busy} />`}
    ${error && html`<p role="alert" class="error">${error}</p>`}
    <div class="actions">
      ${conversation.state === 'active' && html`<button type="button" class="secondary" disabled=${busy}
        onClick=${() => act('end')}>${t('agent.end')}</button>`}
    </div>
    ${conversation.state === 'wrap_up' && html`<${WrapUp} busy=${busy} onClose=${(body) => act('close', body)} />`}
    ${conversation.state === 'active' && html`<${Transfer} conversation=${conversation} queues=${queues}
      agents=${agents} onDone=${onChanged} />`}
      </div>
      <${Details} conversation=${conversation} phone=${phone} />
    </div>
  `;
}

export function AgentDesktop({ session }) {
  const me = session.user.id;
  const [offers, setOffers] = useState([]);
  const [mine, setMine] = useState([]);
  const [known, setKnown] = useState({});
  const [queues, setQueues] = useState({});
  const [colleagues, setColleagues] = useState([]);
  const [channels, setChannels] = useState({});
  const [replies, setReplies] = useState([]);
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState(null);
  const [openId, setOpenId] = useState(null);
  const [messages, setMessages] = useState([]);
  const [failures, setFailures] = useState({});
  const [statuses, setStatuses] = useState({});
  const opened = useRef(null);
  opened.current = openId;
  const [typingUntil, setTypingUntil] = useState({});
  const now = useNow(1000);

  async function loadTranscript(id) {
    try {
      // The conversation's log, oldest first, page after page: its messages (a long conversation shows whole),
      // and the ones its channel never got.
      let cursor = null;
      do {
        const query = new URLSearchParams({ limit: '100', ...(cursor ? { cursor } : {}) });
        const page = await api('GET', `/v1/conversations/${id}/timeline?${query}`);
        if (opened.current !== id) return;
        setMessages((now) => merged(now, page.data.filter((e) => e.type === 'message.created').map((e) => e.data)));
        noteFailures(page.data.filter((e) => e.type === 'message.delivery_failed').map((e) => e.data));
        noteStatuses(page.data);
        cursor = page.next_cursor;
      } while (cursor);
    } catch (failure) {
      if (failure.status !== 401) setError(failure.message);
    }
  }

  function noteFailures(list) {
    if (list.length > 0) setFailures((all) => ({ ...all, ...Object.fromEntries(list.map((f) => [f.message_id, f])) }));
  }

  /// What the provider said of each message, from `message.delivered` (accepted, with its SMS segments) and
  /// `message.status_changed` (sent, delivered, read, …), in the log's order: the latest wins.
  function noteStatuses(events) {
    const news = events.filter((e) => e.type === 'message.delivered' || e.type === 'message.status_changed');
    if (news.length === 0) return;
    setStatuses((all) => {
      const next = { ...all };
      for (const e of news) {
        const was = next[e.data.message_id] ?? {};
        next[e.data.message_id] = e.type === 'message.delivered'
          ? { ...was, segments: e.data.segments ?? was.segments }
          : { ...was, status: e.data.status };
      }
      return next;
    });
  }

  function open(id) {
    setOpenId(id);
    setMessages([]);
    loadTranscript(id);
    // The address names the open conversation, so a reload or a shared link opens it again.
    history.replaceState(null, '', `/agent?${new URLSearchParams({ conversation: id })}`);
  }

  // A link to a conversation (`/agent?conversation=<id>`) opens it, if it is the agent's to see.
  useEffect(() => {
    const linked = new URLSearchParams(location.search).get('conversation');
    if (!linked) return;
    api('GET', `/v1/conversations/${encodeURIComponent(linked)}`)
      .then((conversation) => {
        setKnown((k) => ({ ...k, [conversation.id]: conversation }));
        open(conversation.id);
      })
      .catch((failure) => {
        if (failure.status === 404) setNotice(t('agent.not_found'));
        else if (failure.status !== 401) setError(failure.message);
      });
  }, []);

  // Events come in bursts; one reload runs at a time, and one more after it if anything changed meanwhile, so
  // the page never shows an older answer over a newer one.
  const reloading = useRef({ running: false, again: false });
  async function reload() {
    const state = reloading.current;
    if (state.running) {
      state.again = true;
      return;
    }
    state.running = true;
    do {
      state.again = false;
      await reloadOnce();
    } while (state.again);
    state.running = false;
  }

  async function reloadOnce() {
    try {
      const [offerList, conversationList] = await Promise.all([
        api('GET', `/v1/agents/${me}/offers`),
        api('GET', `/v1/conversations?agent_id=${me}&limit=100`),
      ]);
      const pending = offerList.data.filter((o) => o.state === 'pending');
      const wanted = pending.map((o) => o.conversation_id).filter((id) => !known[id]);
      const fetched = await Promise.all(wanted.map((id) => api('GET', `/v1/conversations/${id}`).catch(() => null)));
      setKnown((k) => Object.fromEntries([...Object.entries(k), ...fetched.filter(Boolean).map((c) => [c.id, c])]));
      setOffers(pending);
      setMine(conversationList.data);
      setError(null);
    } catch (failure) {
      if (failure.status !== 401) setError(failure.message);
    }
  }

  useEffect(() => {
    api('GET', '/v1/queues?limit=100')
      .then((list) => setQueues(Object.fromEntries(list.data.map((q) => [q.id, q.name]))))
      .catch(() => {});
    api('GET', '/v1/quick-replies').then((list) => setReplies(list.data)).catch(() => {});
    api('GET', '/v1/channels?limit=100')
      .then((list) => setChannels(Object.fromEntries(list.data.map((c) => [c.id, c.name]))))
      .catch(() => {});
    api('GET', '/v1/users?role=agent&limit=100')
      .then((list) => setColleagues(list.data.filter((u) => u.id !== me)))
      .catch(() => {});
  }, []);

  const { connected, send } = useStream((frame) => {
    if (frame.type === 'conversation.typing') {
      if (frame.data.agent_id !== me) {
        setTypingUntil((all) => ({ ...all, [frame.conversation_id]: Date.now() + TYPING_SHOWN_MS }));
      }
    } else if (frame.type === 'stream.resync') {
      reload();
      if (opened.current) loadTranscript(opened.current);
    } else if (frame.type === 'message.delivery_failed') {
      if (frame.conversation_id === opened.current) noteFailures([frame.data]);
    } else if (frame.type === 'message.delivered' || frame.type === 'message.status_changed') {
      if (frame.conversation_id === opened.current) noteStatuses([frame]);
    } else if (frame.type === 'message.created') {
      if (frame.conversation_id === opened.current) setMessages((now) => merged(now, [frame.data]));
      // Whoever sent a message has stopped typing it.
      if (frame.data.sender.kind !== 'agent') setTypingUntil((all) => ({ ...all, [frame.conversation_id]: 0 }));
    } else if (frame.type.startsWith('routing.') || frame.type.startsWith('conversation.')) {
      reload();
    }
  });
  const current = mine.find((c) => c.id === openId) ?? known[openId];

  // Alt+A accepts the oldest offer; Alt+N opens the next active conversation (Enter sends, in the composer).
  const shortcuts = useRef(null);
  shortcuts.current = (event) => {
    if (!event.altKey || event.ctrlKey || event.metaKey) return;
    const key = event.key.toLowerCase();
    if (key === 'a' && offers.length > 0) {
      event.preventDefault();
      answer(offers[offers.length - 1], 'accept');
    } else if (key === 'n') {
      const active = mine.filter((c) => c.state === 'active');
      if (active.length === 0) return;
      event.preventDefault();
      const at = active.findIndex((c) => c.id === openId);
      open(active[(at + 1) % active.length].id);
    }
  };
  useEffect(() => {
    const listener = (event) => shortcuts.current(event);
    document.addEventListener('keydown', listener);
    return () => document.removeEventListener('keydown', listener);
  }, []);

  async function answer(offer, how) {
    setNotice(null);
    try {
      await api('POST', `/v1/offers/${offer.id}/${how}`);
    } catch (failure) {
      setNotice(failure.message);
    }
    reload();
  }

  return html`
    <div class="desktop">
      <section aria-labelledby="presence-title">
        <h2 id="presence-title">${t('agent.status')}</h2>
        <${Presence} me=${me} />
        <p class="live" role="status">${connected ? t('agent.live') : t('agent.reconnecting')}</p>
      </section>
      <section aria-labelledby="offers-title">
        <h2 id="offers-title">${t('agent.offers')}</h2>
        ${notice && html`<p role="alert" class="error">${notice}</p>`}
        <${Offers} offers=${offers} conversations=${known} queues=${queues} channels=${channels}
          onAnswer=${answer} />
      </section>
      <section aria-labelledby="mine-title">
        <h2 id="mine-title">${t('agent.mine')}</h2>
        <${Conversations} list=${mine} openId=${openId} onOpen=${open} />
      </section>
      ${current && html`<section class="pane" aria-labelledby="pane-title">
        <${ConversationPane} conversation=${current} messages=${messages} failures=${failures} statuses=${statuses}
          onChanged=${reload}
          queues=${queues}
          agents=${colleagues} replies=${replies}
          typing=${(typingUntil[current.id] ?? 0) > now}
          onTyping=${(id) => send({ type: 'typing', conversation_id: id })} />
      </section>`}
      ${error && html`<p role="alert" class="error">${error}</p>`}
    </div>
  `;
}
