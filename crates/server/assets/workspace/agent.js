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

function Conversations({ list }) {
  const byState = STATES.map((state) => [state, list.filter((c) => c.state === state)]).filter(([, l]) => l.length);
  if (byState.length === 0) return html`<p class="empty">${t('agent.no_conversations')}</p>`;
  return byState.map(([state, items]) => html`
    <h3>${t(`state.${state}`)} (${items.length})</h3>
    <ul class="conversations">
      ${items.map((c) => html`<li>${conversationLabel(c)}</li>`)}
    </ul>`);
}

export function AgentDesktop({ session }) {
  const me = session.user.id;
  const [offers, setOffers] = useState([]);
  const [mine, setMine] = useState([]);
  const [known, setKnown] = useState({});
  const [queues, setQueues] = useState({});
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState(null);

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
    if (frame.type === 'stream.resync') reload();
    else if (frame.type.startsWith('routing.') || frame.type.startsWith('conversation.')) reload();
  });

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
        <${Conversations} list=${mine} />
      </section>
      ${error && html`<p role="alert" class="error">${error}</p>`}
    </div>
  `;
}
