// The customer chat page (/chat/{channel}), shown by a website in an iframe (embed.js). The customer answers the
// channel's pre-chat questions, then writes and reads live: the agent's messages and typing, their place in the
// queue while they wait, the end of the chat, and the transcript to download. The customer is not a user: the chat
// token the start answers authorizes this one conversation, and is kept in sessionStorage so that a reload resumes.
// It uses neither the workspace shell nor sessions. See docs/chat.md.
import { useLiveStream } from './stream.js';
import { t } from './text.js';
import { html, render, useEffect, useRef, useState } from './view.js';

const channel = decodeURIComponent(location.pathname.split('/')[2] ?? '');
const KEPT = `switchboard.chat.${channel}`;
const TYPING_SHOWN_MS = 6000;
const TYPING_SENT_EVERY_MS = 3000;
const ENDED = ['wrap_up', 'closed'];

// The chat this tab is in, kept so that a reload resumes it. A browser that refuses storage to a page framed by
// another site (third-party storage blocked) still chats; a reload then starts over.
function kept() {
  try {
    return JSON.parse(sessionStorage.getItem(KEPT) ?? 'null');
  } catch {
    return null;
  }
}

function keep(chat) {
  try {
    if (chat) sessionStorage.setItem(KEPT, JSON.stringify(chat));
    else sessionStorage.removeItem(KEPT);
  } catch {
    // Not kept: see kept().
  }
}

class Problem extends Error {
  constructor(status, body) {
    super(body?.detail ?? t('chat.failed'));
    this.status = status;
    this.code = body?.code;
    this.field = body?.field;
  }
}

// A call to the chat API with the chat token; a problem answer is thrown as a Problem.
async function call(method, path, { token, json, file } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (file) {
    headers['Content-Type'] = file.type || 'application/octet-stream';
    body = file;
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body });
  } catch {
    throw new Problem(0, { detail: t('chat.unreachable') });
  }
  if (!response.ok) throw new Problem(response.status, await response.json().catch(() => null));
  const type = response.headers.get('content-type') ?? '';
  if (response.status === 204) return null;
  return type.includes('json') ? response.json() : response.text();
}

function PreChat({ onStarted }) {
  const [form, setForm] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    call('GET', `/v1/chat/${encodeURIComponent(channel)}`).then(setForm, (e) => setError(e.message));
  }, []);
  async function submit(event) {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    const answers = {};
    for (const field of form.pre_chat_fields) {
      const value = String(data.get(field.key) ?? '').trim();
      if (value) answers[field.key] = value;
    }
    setBusy(true);
    setError(null);
    try {
      const started = await call('POST', `/v1/chat/${encodeURIComponent(channel)}/conversations`, { json: { answers } });
      const chat = { token: started.token, id: started.conversation_id };
      keep(chat);
      onStarted(chat);
    } catch (e) {
      setError(e.status === 429 ? t('chat.too_many') : e.message);
      setBusy(false);
    }
  }
  if (!form) return html`<p role=${error ? 'alert' : 'status'} class=${error ? 'error' : ''}>${error ?? t('chat.loading')}</p>`;
  return html`
    <form class="prechat" onSubmit=${submit}>
      <h1>${form.name}</h1>
      <p>${t('chat.intro')}</p>
      ${form.pre_chat_fields.map((field) => html`
        <label>
          ${field.label}${field.required ? html` <span class="required">${t('chat.required')}</span>` : ''}
          <input name=${field.key} required=${field.required}
            type=${field.key === 'email' ? 'email' : 'text'}
            autocomplete=${field.key === 'email' ? 'email' : field.key === 'name' ? 'name' : 'off'} />
        </label>`)}
      ${error && html`<p role="alert" class="error">${error}</p>`}
      <button type="submit" disabled=${busy}>${busy ? t('chat.starting') : t('chat.start')}</button>
    </form>`;
}

// The chat's stream: it carries the chat token as its second subprotocol (a browser cannot set headers on a
// WebSocket).
function useChatStream(chat, onFrame, onRefused) {
  return useLiveStream({
    path: (after) => `/v1/chat/conversations/${chat.id}/stream${after === null ? '' : `?after=${after}`}`,
    protocols: ['switchboard.chat', chat.token],
    // A token that no longer works ends the chat on this page.
    refused: async () => {
      const refused = await call('GET', `/v1/chat/conversations/${chat.id}`, { token: chat.token })
        .then(() => false, (e) => e.status === 401 || e.status === 404);
      if (refused) onRefused();
      return refused;
    },
    onFrame,
    key: chat.id,
  });
}

function merged(list, more) {
  const bySequence = new Map(list.map((m) => [m.sequence, m]));
  for (const m of more) bySequence.set(m.sequence, m);
  return [...bySequence.values()].sort((a, b) => a.sequence - b.sequence);
}

function Attachment({ attachment }) {
  const name = attachment.name ?? t('chat.file');
  if (attachment.content_type.startsWith('image/')) {
    return html`<a class="attachment" href=${attachment.url} target="_blank" rel="noopener">
      <img src=${attachment.url} alt=${name} /></a>`;
  }
  return html`<a class="attachment" href=${attachment.url} target="_blank" rel="noopener">${name}</a>`;
}

function Message({ message }) {
  const time = new Date(message.created_at);
  return html`
    <li class=${`from-${message.sender.kind}`}>
      <span class="sender">${message.sender.kind === 'customer' ? t('chat.you') : message.sender.name}</span>
      ${message.text && html`<span class="text">${message.text}</span>`}
      ${message.attachments.map((a) => html`<${Attachment} attachment=${a} />`)}
      <time datetime=${message.created_at}>${time.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}</time>
    </li>`;
}

function waitText(queue) {
  if (!queue?.position) return t('chat.waiting');
  if (queue.estimated_wait_seconds == null) return t('chat.position', { position: queue.position });
  const minutes = Math.max(1, Math.round(queue.estimated_wait_seconds / 60));
  return t('chat.position_wait', { position: queue.position, minutes });
}

function Chat({ chat, onNew }) {
  const [messages, setMessages] = useState([]);
  const [state, setState] = useState(null);
  const [agent, setAgent] = useState(null);
  const [queue, setQueue] = useState(null);
  const [agentTypingUntil, setAgentTypingUntil] = useState(0);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [, tick] = useState(0);
  const lastTyping = useRef(0);
  const list = useRef(null);
  const token = chat.token;
  const base = `/v1/chat/conversations/${chat.id}`;

  const refused = () => {
    keep(null);
    onNew(t('chat.expired'));
  };
  async function loadMessages() {
    let cursor = null;
    let all = [];
    do {
      const page = await call('GET', `${base}/messages?limit=250${cursor ? `&cursor=${cursor}` : ''}`, { token });
      all = all.concat(page.data);
      cursor = page.next_cursor;
    } while (cursor);
    setMessages((now) => merged(now, all));
  }
  async function loadState() {
    const c = await call('GET', base, { token });
    setState(c.state);
    if (c.state === 'open') loadQueue();
  }
  function loadQueue() {
    call('GET', `${base}/queue-position`, { token }).then(setQueue, () => setQueue(null));
  }
  function reload() {
    Promise.all([loadMessages(), loadState()]).catch((e) => (e.status === 401 ? refused() : setError(e.message)));
  }

  const { send } = useChatStream(chat, (frame) => {
    if (frame.type === 'stream.resync') return reload();
    if (frame.type === 'message.created') {
      setMessages((now) => merged(now, [frame.data]));
      if (frame.data.sender.kind === 'agent') setAgentTypingUntil(0);
    } else if (frame.type === 'conversation.typing') {
      setAgentTypingUntil(Date.now() + TYPING_SHOWN_MS);
      setTimeout(() => tick((n) => n + 1), TYPING_SHOWN_MS + 50);
    } else if (frame.type === 'conversation.state_changed') {
      setState(frame.data.to);
      if (frame.data.to === 'active') setAgent(frame.data.agent_name ?? null);
      if (frame.data.to === 'open') loadQueue();
    } else if (frame.type.startsWith('routing.')) {
      loadQueue();
    }
  }, refused);

  useEffect(() => {
    list.current?.lastElementChild?.scrollIntoView({ block: 'end' });
  }, [messages.length]);

  async function sendText(event) {
    event.preventDefault();
    const box = event.currentTarget.elements.message;
    const text = box.value;
    if (!text.trim()) return;
    setBusy(true);
    setError(null);
    try {
      const message = await call('POST', `${base}/messages`, { token, json: { text } });
      setMessages((now) => merged(now, [message]));
      box.value = '';
    } catch (e) {
      setError(e.message);
    }
    setBusy(false);
    box.focus();
  }
  function typed() {
    const now = Date.now();
    if (now - lastTyping.current < TYPING_SENT_EVERY_MS) return;
    lastTyping.current = now;
    send({ type: 'typing', conversation_id: chat.id });
  }
  function keyDown(event) {
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      event.currentTarget.form.requestSubmit();
    }
  }
  async function attach(event) {
    const file = event.currentTarget.files?.[0];
    const input = event.currentTarget;
    if (!file) return;
    setBusy(true);
    setError(null);
    try {
      const path = `${base}/attachments?name=${encodeURIComponent(file.name)}`;
      const message = await call('POST', path, { token, file });
      setMessages((now) => merged(now, [message]));
    } catch (e) {
      setError(t('chat.file_refused', { detail: e.message }));
    }
    input.value = '';
    setBusy(false);
  }
  async function end() {
    try {
      const c = await call('POST', `${base}/end`, { token });
      setState(c.state);
    } catch (e) {
      setError(e.message);
    }
  }
  async function download() {
    try {
      const text = await call('GET', `${base}/transcript`, { token });
      const link = document.createElement('a');
      link.href = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
      link.download = `chat-${chat.id}.txt`;
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    } catch (e) {
      setError(e.message);
    }
  }
  function startAgain() {
    keep(null);
    onNew(null);
  }

  useEffect(() => {
    reload();
  }, [chat.id]);

  const ended = ENDED.includes(state);
  const status = ended
    ? t('chat.ended')
    : state === 'active'
      ? (agent ? t('chat.with_agent', { name: agent }) : t('chat.connected'))
      : state === 'open' ? waitText(queue) : '';
  return html`
    <section class="conversation" aria-labelledby="chat-title">
      <h1 id="chat-title">${t('chat.title')}</h1>
      <p class="status" role="status">${status}</p>
      <div class="log" role="log" aria-label=${t('chat.messages')}>
        <ol class="messages" ref=${list}>
          ${messages.map((m) => html`<${Message} key=${m.sequence} message=${m} />`)}
        </ol>
      </div>
      <p class="typing" aria-live="polite">${!ended && agentTypingUntil > Date.now() ? t('chat.agent_typing') : ''}</p>
      ${error && html`<p role="alert" class="error">${error}</p>`}
      ${ended
        ? html`<div class="actions">
            <button type="button" onClick=${download}>${t('chat.download')}</button>
            <button type="button" class="secondary" onClick=${startAgain}>${t('chat.new')}</button>
          </div>`
        : html`
          <form class="composer" onSubmit=${sendText}>
            <label>${t('chat.message')}
              <textarea name="message" rows="2" maxlength="6000" onInput=${typed} onKeyDown=${keyDown}></textarea>
            </label>
            <button type="submit" disabled=${busy}>${t('chat.send')}</button>
          </form>
          <div class="actions">
            <label class="file">${t('chat.attach')}
              <input type="file" onChange=${attach} disabled=${busy} />
            </label>
            <button type="button" class="secondary" onClick=${download}>${t('chat.download')}</button>
            <button type="button" class="secondary" onClick=${end}>${t('chat.end')}</button>
          </div>`}
    </section>`;
}

function App() {
  const [chat, setChat] = useState(kept);
  const [notice, setNotice] = useState(null);
  const again = (why) => {
    setNotice(why);
    setChat(null);
  };
  if (chat) return html`<main class="chat"><${Chat} chat=${chat} onNew=${again} /></main>`;
  return html`<main class="chat">
    ${notice && html`<p role="alert">${notice}</p>`}
    <${PreChat} onStarted=${setChat} />
  </main>`;
}

render(html`<${App} />`, document.getElementById('app'));
