// The agent desktop: the agent's presence, the offers made to them with a countdown, and their conversations by
// state, kept live by the stream. The stream's events say what changed; the page reloads that part from the API,
// so a dropped connection that resumes (with the last event id) or resyncs never shows a stale or doubled item.
import { api } from './api.js';
import { t } from './text.js';
import { html, useEffect, useRef, useState } from './view.js';

const LIVE_TYPES = ['routing.*', 'conversation.*', 'agent.presence_changed', 'message.created'];
const STATES = ['active', 'open', 'wrap_up', 'waiting'];

function useNow(ms) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

/// The stream as a WebSocket, resumed from the last event id after a drop; `onEvent` gets each frame.
function useStream(onFrame) {
  const [connected, setConnected] = useState(false);
  const handler = useRef(onFrame);
  handler.current = onFrame;
  useEffect(() => {
    let socket;
    let lastId = null;
    let stopped = false;
    let retry = 500;
    function connect() {
      const query = new URLSearchParams({ types: LIVE_TYPES.join(',') });
      if (lastId !== null) query.set('after', String(lastId));
      const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
      socket = new WebSocket(`${scheme}//${location.host}/v1/stream?${query}`);
      socket.onopen = () => {
        retry = 500;
        setConnected(true);
        // Whatever happened while the page was away from the stream is read again.
        if (lastId === null) handler.current({ type: 'stream.resync', reason: 'connected' });
      };
      socket.onmessage = (message) => {
        const frame = JSON.parse(message.data);
        if (typeof frame.id === 'number') lastId = frame.id;
        handler.current(frame);
      };
      socket.onclose = () => {
        setConnected(false);
        if (stopped) return;
        setTimeout(connect, retry);
        retry = Math.min(retry * 2, 10_000);
      };
    }
    connect();
    return () => {
      stopped = true;
      socket?.close();
    };
  }, []);
  return connected;
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

function Offers({ offers, conversations, queues, onAnswer }) {
  if (offers.length === 0) return html`<p class="empty">${t('agent.no_offers')}</p>`;
  return html`<ul class="offers">
    ${offers.map((offer) => {
      const conversation = conversations[offer.conversation_id];
      return html`<li class="offer" aria-label=${t('agent.offer_label', { name: conversationLabel(conversation) })}>
        <strong>${conversationLabel(conversation)}</strong>
        <span>${t('agent.queue', { name: queues[offer.queue_id] ?? '' })}</span>
        <${Countdown} until=${offer.expires_at} />
        <span class="actions">
          <button type="button" onClick=${() => onAnswer(offer, 'accept')}>${t('agent.accept')}</button>
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
function merged(messages, more) {
  const byId = new Map(messages.map((m) => [m.id, m]));
  for (const m of more) byId.set(m.id, m);
  return [...byId.values()].sort((a, b) => a.sequence - b.sequence);
}

const SENDER_CLASS = { agent: 'from-agent', customer: 'from-customer', bot: 'from-bot', system: 'from-system' };

function Transcript({ messages }) {
  const end = useRef(null);
  useEffect(() => end.current?.scrollIntoView({ block: 'end' }), [messages.length]);
  return html`<ol class="transcript" role="log" aria-live="polite" aria-label=${t('agent.transcript')}>
    ${messages.map((m) => html`<li class=${SENDER_CLASS[m.sender.kind] ?? ''}>
      <span class="sender">${m.sender.name ?? t(`sender.${m.sender.kind}`)}</span>
      <span class="text">${m.text}</span>
      ${m.attachments.map((a) => html`<a class="attachment" href=${`/v1/attachments/${a.id}/content`}
        target="_blank" rel="noopener">${a.name ?? t('agent.attachment')}</a>`)}
      <time datetime=${m.created_at}>${new Date(m.created_at).toLocaleTimeString()}</time>
    </li>`)}
    <li ref=${end} class="end" aria-hidden="true"></li>
  </ol>`;
}

function ConversationPane({ conversation, messages, onChanged }) {
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const writable = conversation.state === 'active';

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

  function keys(event) {
    // Enter sends, Shift+Enter starts a new line: as in every chat tool agents use.
    if (event.key === 'Enter' && !event.shiftKey) send(event);
  }

  return html`
    <h2 id="pane-title">${conversationLabel(conversation)}</h2>
    <p class="meta">${t(`state.${conversation.state}`)}</p>
    <${Transcript} messages=${messages} />
    ${writable && html`<form class="composer" onSubmit=${send}>
      <label>${t('agent.message')}
        <textarea rows="2" value=${text} onInput=${(e) => setText(e.currentTarget.value)} onKeyDown=${keys}></textarea>
      </label>
      <button type="submit" disabled=${busy || !text.trim()}>${t('agent.send')}</button>
    </form>`}
    ${error && html`<p role="alert" class="error">${error}</p>`}
    <div class="actions">
      ${conversation.state === 'active' && html`<button type="button" class="secondary" disabled=${busy}
        onClick=${() => act('end')}>${t('agent.end')}</button>`}
      ${conversation.state === 'wrap_up' && html`<button type="button" disabled=${busy}
        onClick=${() => act('close')}>${t('agent.close')}</button>`}
    </div>
  `;
}

export function AgentDesktop({ session }) {
  const me = session.user.id;
  const [offers, setOffers] = useState([]);
  const [mine, setMine] = useState([]);
  const [known, setKnown] = useState({});
  const [queues, setQueues] = useState({});
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState(null);
  const [openId, setOpenId] = useState(null);
  const [messages, setMessages] = useState([]);
  const opened = useRef(null);
  opened.current = openId;

  async function loadTranscript(id) {
    try {
      const page = await api('GET', `/v1/conversations/${id}/messages?limit=100`);
      if (opened.current === id) setMessages((now) => merged(now, page.data));
    } catch (failure) {
      if (failure.status !== 401) setError(failure.message);
    }
  }

  function open(id) {
    setOpenId(id);
    setMessages([]);
    loadTranscript(id);
  }

  async function reload() {
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
  }, []);

  const connected = useStream((frame) => {
    if (frame.type === 'stream.resync') {
      reload();
      if (opened.current) loadTranscript(opened.current);
    } else if (frame.type === 'message.created') {
      if (frame.conversation_id === opened.current) setMessages((now) => merged(now, [frame.data]));
    } else if (frame.type.startsWith('routing.') || frame.type.startsWith('conversation.')) {
      reload();
    }
  });
  const current = mine.find((c) => c.id === openId) ?? known[openId];

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
        <${Offers} offers=${offers} conversations=${known} queues=${queues} onAnswer=${answer} />
      </section>
      <section aria-labelledby="mine-title">
        <h2 id="mine-title">${t('agent.mine')}</h2>
        <${Conversations} list=${mine} openId=${openId} onOpen=${open} />
      </section>
      ${current && html`<section class="pane" aria-labelledby="pane-title">
        <${ConversationPane} conversation=${current} messages=${messages} onChanged=${reload} />
      </section>`}
      ${error && html`<p role="alert" class="error">${error}</p>`}
    </div>
  `;
}
