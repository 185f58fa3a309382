// The supervisor dashboard: a tile per queue (waiting, longest and estimated wait, today's service level and
// abandonment, its agents by presence and their load), the agents at work, charts of the last 24 hours in 15-minute
// intervals, and a live, read-only view of any conversation of a queue. Live by the stream: its events say that
// something changed, and the page reads `GET /v1/analytics/queues` again, at most once a second (so each tile
// renders at most once a second however busy the contact center is), and once every few seconds when nothing
// happens, so that waits keep counting. See docs/analytics.md.
import { Component } from '../vendor/preact/preact.js';
import { api } from './api.js';
import { Transcript, merged, useStream } from './agent.js';
import { t } from './text.js';
import { html, useEffect, useRef, useState } from './view.js';

/// The most often the snapshot is read, and so the most often a tile renders.
const SNAPSHOT_EVERY_MS = 1000;
/// How often it is read when no event asks for it.
const SNAPSHOT_IDLE_MS = 5000;
/// The charts: at most this often after events, and this often anyway.
const CHARTS_EVERY_MS = 2000;
const CHARTS_IDLE_MS = 30000;
const PRESENCES = ['available', 'busy', 'busy_dnd', 'away', 'inactive', 'offline'];
/// Events after which the queues' numbers may have changed.
const MOVES_QUEUES = new Set([
  'routing.queued', 'routing.dequeued', 'routing.offer_issued', 'routing.offer_rejected', 'routing.offer_expired',
  'routing.offer_withdrawn', 'routing.assigned', 'routing.capacity_released', 'conversation.created',
  'conversation.state_changed', 'conversation.transferred', 'agent.presence_changed',
]);
/// Events the intervals count.
const MOVES_CHARTS = new Set(['routing.queued', 'routing.assigned', 'conversation.state_changed']);

/// `task` run at most once per `ms`, by a timer: calls within `ms` of the last run's end are folded into one run
/// when that time is up, and a call while it runs into one more run after it, so an older answer never lands over a
/// newer one.
function useThrottle(task, ms) {
  const current = useRef(task);
  current.current = task;
  const state = useRef(null);
  if (!state.current) {
    const s = { last: -Infinity, timer: null, running: false, again: false, stopped: false };
    const run = async () => {
      s.timer = null;
      if (s.stopped) return;
      if (s.running) {
        s.again = true;
        return;
      }
      s.running = true;
      try {
        await current.current();
      } finally {
        // Counted from when its answer landed, so that two answers (and the renders they cause) are `ms` apart
        // however long each took.
        s.last = Date.now();
        s.running = false;
        if (s.again) {
          s.again = false;
          s.schedule();
        }
      }
    };
    s.schedule = () => {
      if (s.timer !== null || s.stopped) return;
      s.timer = setTimeout(run, Math.max(0, s.last + ms - Date.now()));
    };
    state.current = s;
  }
  useEffect(() => () => {
    state.current.stopped = true;
    clearTimeout(state.current.timer);
  }, []);
  return state.current.schedule;
}

/// Calls `tick` every `ms` while the page is open.
function useEvery(ms, tick) {
  useEffect(() => {
    const timer = setInterval(tick, ms);
    return () => clearInterval(timer);
  }, [ms]);
}

/// Every item of a cursor-paginated list.
async function listAll(path) {
  const items = [];
  let cursor = null;
  do {
    const query = new URLSearchParams({ limit: '250', ...(cursor ? { cursor } : {}) });
    const page = await api('GET', `${path}?${query}`);
    items.push(...page.data);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return t('supervisor.none');
  const s = Math.round(seconds);
  if (s < 60) return t('supervisor.seconds', { s });
  if (s < 3600) return t('supervisor.minutes', { m: Math.floor(s / 60), s: s % 60 });
  return t('supervisor.hours', { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
}

function percent(fraction) {
  return fraction === null || fraction === undefined ? t('supervisor.none') : `${Math.round(fraction * 100)} %`;
}

/// Counts a tile's renders when a measurement asked for it (docs/benchmarks.md); nothing otherwise.
function noteRender(queueId) {
  const measure = window.switchboardMeasure;
  if (measure) (measure.renders[queueId] ??= []).push(performance.now());
}

/// A queue's tile renders only when its numbers, name or selection changed, and new numbers at most once a second:
/// answers that land closer together (a slow one, then a quick one) wait for the tile's second, and the tile then
/// shows the newest. A selection answers the user at once.
class QueueTile extends Component {
  shouldComponentUpdate(next) {
    const now = this.props;
    if (next.selected !== now.selected) return true;
    if (next.queue === now.queue && next.name === now.name) return false;
    const wait = (this.renderedAt ?? -Infinity) + SNAPSHOT_EVERY_MS - performance.now();
    if (wait <= 0) return true;
    clearTimeout(this.later);
    // A timer may fire a little early; the margin keeps two renders a full second apart.
    this.later = setTimeout(() => this.forceUpdate(), wait + 10);
    return false;
  }

  componentWillUnmount() {
    clearTimeout(this.later);
  }

  render(props) {
    clearTimeout(this.later);
    this.renderedAt = performance.now();
    return tile(props);
  }
}

function tile({ queue, name, selected, onSelect }) {
  noteRender(queue.queue_id);
  const titleId = `queue-${queue.queue_id}`;
  const present = PRESENCES.filter((p) => queue.agents[p] > 0)
    .map((p) => t('supervisor.presence_count', { n: queue.agents[p], presence: t(`supervisor.presence_${p}`) }));
  return html`<section class="tile" aria-labelledby=${titleId}>
    <h3 id=${titleId}>${name}</h3>
    <dl>
      <dt>${t('supervisor.waiting')}</dt><dd>${queue.waiting}</dd>
      <dt>${t('supervisor.offered')}</dt><dd>${queue.offered}</dd>
      <dt>${t('supervisor.longest_wait')}</dt><dd>${duration(queue.longest_wait_seconds)}</dd>
      <dt>${t('supervisor.estimated_wait')}</dt><dd>${duration(queue.estimated_wait_seconds)}</dd>
      <dt>${t('supervisor.service_level')}</dt><dd>${percent(queue.today.service_level)}</dd>
      <dt>${t('supervisor.abandonment')}</dt><dd>${percent(queue.today.abandonment_rate)}</dd>
      <dt>${t('supervisor.agents')}</dt><dd>${present.length ? present.join(', ') : t('supervisor.no_agents')}</dd>
      <dt>${t('supervisor.load')}</dt>
      <dd>${t('supervisor.units', { used: queue.used_units, total: queue.total_units })}</dd>
    </dl>
    <button type="button" class="secondary" aria-pressed=${selected ? 'true' : 'false'}
      onClick=${() => onSelect(queue.queue_id)}>${t('supervisor.show_conversations', { name })}</button>
  </section>`;
}

/// A table that scrolls sideways on its own on a narrow screen, rather than the page; focusable, so that a
/// keyboard can scroll it.
function Scroll({ label, children }) {
  return html`<div class="scroll" role="region" aria-label=${label} tabindex="0">${children}</div>`;
}

function Agents({ agents, names }) {
  const counts = PRESENCES.map((p) => [p, agents.filter((a) => a.presence === p).length]).filter(([, n]) => n > 0);
  const working = agents.filter((a) => a.presence !== 'offline')
    .sort((a, b) => b.used_units - a.used_units || (names[a.user_id] ?? '').localeCompare(names[b.user_id] ?? ''));
  return html`
    <p>${counts.map(([p, n]) => t('supervisor.presence_count', { n, presence: t(`supervisor.presence_${p}`) })).join(', ')
      || t('supervisor.no_agents')}</p>
    ${working.length > 0 && html`<${Scroll} label=${t('supervisor.agents_online')}><table class="compact">
      <caption>${t('supervisor.agents_online')}</caption>
      <thead><tr><th scope="col">${t('supervisor.agent')}</th><th scope="col">${t('supervisor.presence')}</th>
        <th scope="col">${t('supervisor.load')}</th></tr></thead>
      <tbody>${working.map((a) => html`<tr>
        <th scope="row">${names[a.user_id] ?? t('supervisor.agent')}</th>
        <td>${t(`supervisor.presence_${a.presence}`)}</td>
        <td>${t('supervisor.units', { used: a.used_units, total: a.total_units })}</td>
      </tr>`)}</tbody>
    </table><//>`}`;
}

const CHART = { width: 720, height: 180, left: 44, right: 44, top: 10, bottom: 24 };
const COLOURS = { arrivals: '#0b57d0', answered: '#1e7d32', abandoned: '#b3261e', wait: '#6a3fb5', level: '#8a5300' };

function hourLabel(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/// The x axis: a label every four hours.
function TimeAxis({ data, x }) {
  return data.map((d, i) => (i % 16 === 0 ? html`<text x=${x(i)} y=${CHART.height - 6} font-size="11"
    fill="#4a5360">${hourLabel(d.start)}</text>` : null));
}

function VolumeChart({ data }) {
  const { width, height, left, right, top, bottom } = CHART;
  const slot = (width - left - right) / Math.max(1, data.length);
  const top_ = Math.max(1, ...data.flatMap((d) => [d.arrivals, d.answered, d.abandoned]));
  const y = (v) => height - bottom - (v / top_) * (height - top - bottom);
  const x = (i) => left + i * slot;
  const keys = ['arrivals', 'answered', 'abandoned'];
  const totals = Object.fromEntries(keys.map((k) => [k, data.reduce((sum, d) => sum + d[k], 0)]));
  return html`<figure>
    <svg viewBox="0 0 ${width} ${height}" width="100%" role="img" aria-labelledby="volume-title volume-desc">
      <title id="volume-title">${t('supervisor.volume_chart')}</title>
      <desc id="volume-desc">${t('supervisor.volume_desc', totals)}</desc>
      ${[0, top_ / 2, top_].map((v) => html`<line x1=${left} x2=${width - right} y1=${y(v)} y2=${y(v)}
        stroke="#c9ced6" /><text x=${left - 6} y=${y(v) + 4} font-size="11" text-anchor="end"
        fill="#4a5360">${Math.round(v * 10) / 10}</text>`)}
      ${data.map((d, i) => keys.map((k, j) => d[k] > 0 && html`<rect x=${x(i) + (j * slot) / 3} y=${y(d[k])}
        width=${Math.max(1, slot / 3 - 0.5)} height=${height - bottom - y(d[k])} fill=${COLOURS[k]} />`))}
      <${TimeAxis} data=${data} x=${x} />
    </svg>
    <figcaption>${keys.map((k) => html`<span class="key"><svg width="12" height="12" aria-hidden="true">
      <rect width="12" height="12" fill=${COLOURS[k]} /></svg> ${t(`supervisor.${k}`)}</span>`)}</figcaption>
  </figure>`;
}

/// A line through the points that have a value, broken where there is none.
function linePath(data, x, y, pick) {
  let path = '';
  let drawing = false;
  data.forEach((d, i) => {
    const v = pick(d);
    if (v === null || v === undefined) {
      drawing = false;
      return;
    }
    path += `${drawing ? 'L' : 'M'}${x(i).toFixed(1)} ${y(v).toFixed(1)} `;
    drawing = true;
  });
  return path;
}

function QualityChart({ data, threshold }) {
  const { width, height, left, right, top, bottom } = CHART;
  const slot = (width - left - right) / Math.max(1, data.length);
  const x = (i) => left + i * slot + slot / 2;
  const maxWait = Math.max(10, ...data.map((d) => d.average_wait_seconds ?? 0));
  const yWait = (v) => height - bottom - (v / maxWait) * (height - top - bottom);
  const yLevel = (v) => height - bottom - v * (height - top - bottom);
  const points = (pick, y, colour) => data.map((d, i) => (pick(d) === null ? null : html`<circle cx=${x(i)}
    cy=${y(pick(d))} r="2.5" fill=${colour} />`));
  return html`<figure>
    <svg viewBox="0 0 ${width} ${height}" width="100%" role="img" aria-labelledby="quality-title quality-desc">
      <title id="quality-title">${t('supervisor.quality_chart')}</title>
      <desc id="quality-desc">${t('supervisor.quality_desc')}</desc>
      ${[0, 0.5, 1].map((f) => html`<line x1=${left} x2=${width - right} y1=${yLevel(f)} y2=${yLevel(f)}
        stroke="#c9ced6" /><text x=${left - 6} y=${yLevel(f) + 4} font-size="11" text-anchor="end"
        fill=${COLOURS.wait}>${Math.round(maxWait * f)} s</text><text x=${width - right + 6} y=${yLevel(f) + 4}
        font-size="11" fill=${COLOURS.level}>${Math.round(f * 100)} %</text>`)}
      <path d=${linePath(data, x, yWait, (d) => d.average_wait_seconds)} fill="none" stroke=${COLOURS.wait}
        stroke-width="2" />
      <path d=${linePath(data, x, yLevel, (d) => d.service_level)} fill="none" stroke=${COLOURS.level}
        stroke-width="2" stroke-dasharray="5 3" />
      ${points((d) => d.average_wait_seconds, yWait, COLOURS.wait)}
      ${points((d) => d.service_level, yLevel, COLOURS.level)}
      <${TimeAxis} data=${data} x=${(i) => left + i * slot} />
    </svg>
    <figcaption>
      <span class="key"><svg width="16" height="12" aria-hidden="true"><line x1="0" x2="16" y1="6" y2="6"
        stroke=${COLOURS.wait} stroke-width="2" /></svg> ${t('supervisor.average_wait')}</span>
      <span class="key"><svg width="16" height="12" aria-hidden="true"><line x1="0" x2="16" y1="6" y2="6"
        stroke=${COLOURS.level} stroke-width="2" stroke-dasharray="5 3" /></svg> ${t('supervisor.service_level_line',
        { seconds: threshold })}</span>
    </figcaption>
  </figure>`;
}

/// What the charts draw, as a table: the intervals in which something happened, newest first.
function IntervalTable({ data }) {
  const active = data.filter((d) => d.arrivals || d.answered || d.abandoned).reverse();
  if (active.length === 0) return html`<p class="empty">${t('supervisor.no_intervals')}</p>`;
  return html`<${Scroll} label=${t('supervisor.intervals_table')}><table class="compact">
    <caption>${t('supervisor.intervals_table')}</caption>
    <thead><tr>
      <th scope="col">${t('supervisor.interval')}</th><th scope="col">${t('supervisor.arrivals')}</th>
      <th scope="col">${t('supervisor.answered')}</th><th scope="col">${t('supervisor.abandoned')}</th>
      <th scope="col">${t('supervisor.average_wait')}</th><th scope="col">${t('supervisor.service_level_short')}</th>
    </tr></thead>
    <tbody>${active.map((d) => html`<tr>
      <th scope="row">${hourLabel(d.start)}–${hourLabel(d.end)}</th>
      <td>${d.arrivals}</td><td>${d.answered}</td><td>${d.abandoned}</td>
      <td>${duration(d.average_wait_seconds)}</td><td>${percent(d.service_level)}</td>
    </tr>`)}</tbody>
  </table><//>`;
}

function Charts({ queues, names, poke }) {
  const [queue, setQueue] = useState('');
  const [intervals, setIntervals] = useState(null);
  const [error, setError] = useState(null);
  const chosen = useRef(queue);
  chosen.current = queue;
  const load = async () => {
    const asked = chosen.current;
    try {
      const query = new URLSearchParams(asked ? { queue_id: asked } : {});
      const answer = await api('GET', `/v1/analytics/intervals?${query}`);
      if (chosen.current !== asked) return;
      setIntervals({ data: answer.data, threshold: answer.service_level_threshold_seconds });
      setError(null);
    } catch (failure) {
      if (failure.status !== 401) setError(failure.message);
    }
  };
  const refresh = useThrottle(load, CHARTS_EVERY_MS);
  // The page's stream asks for a refresh through `poke`, so that events re-render neither the page nor the tiles.
  poke.current = refresh;
  useEffect(() => refresh(), [queue]);
  useEvery(CHARTS_IDLE_MS, () => refresh());
  return html`
    <label class="inline">${t('supervisor.chart_queue')}
      <select value=${queue} onChange=${(e) => setQueue(e.currentTarget.value)}>
        <option value="">${t('supervisor.all_queues')}</option>
        ${queues.map((q) => html`<option value=${q.queue_id}>${names[q.queue_id] ?? t('supervisor.queue')}</option>`)}
      </select>
    </label>
    ${error && html`<p role="alert" class="error">${error}</p>`}
    ${intervals && html`<${VolumeChart} data=${intervals.data} />
      <${QualityChart} data=${intervals.data} threshold=${intervals.threshold} />
      <${IntervalTable} data=${intervals.data} />`}`;
}

function conversationLabel(c) {
  return c.subject || c.customer_key || t('supervisor.conversation');
}

/// A queue's waiting and active conversations, to pick one to watch.
function QueueConversations({ queueId, name, version, watching, onWatch }) {
  const [list, setList] = useState(null);
  const load = async () => {
    const [open, active] = await Promise.all(['open', 'active'].map((state) =>
      api('GET', `/v1/conversations?${new URLSearchParams({ queue_id: queueId, state, limit: '20' })}`)));
    setList([...open.data, ...active.data]);
  };
  const refresh = useThrottle(() => load().catch(() => {}), SNAPSHOT_EVERY_MS);
  useEffect(() => {
    setList(null);
    refresh();
  }, [queueId]);
  useEffect(() => refresh(), [version]);
  if (!list) return html`<p>${t('app.loading')}</p>`;
  if (list.length === 0) return html`<p class="empty">${t('supervisor.no_conversations', { name })}</p>`;
  return html`<ul class="conversations">${list.map((c) => html`<li>
    <button type="button" class="link" aria-current=${c.id === watching ? 'true' : undefined}
      onClick=${() => onWatch(c)}>${conversationLabel(c)}</button> ${t(`state.${c.state}`)}
  </li>`)}</ul>`;
}

/// The agent desktop's transcript marks replies its channel never got; the dashboard does not read them.
const NO_FAILURES = Object.freeze({});

/// One conversation's transcript, read-only, kept live by the page's stream.
function Watch({ conversation, messages }) {
  return html`<h3 id="watch-title">${t('supervisor.watching', { name: conversationLabel(conversation) })}</h3>
    <p class="meta">${t(`state.${conversation.state}`)}</p>
    <${Transcript} messages=${messages} failures=${NO_FAILURES} />`;
}

/// The dashboard's own styles, beside the workspace's (a file of this site, as the policy requires).
function useStylesheet(href) {
  useEffect(() => {
    if (document.querySelector(`link[href="${href}"]`)) return;
    const link = document.createElement('link');
    link.rel = 'stylesheet';
    link.href = href;
    document.head.append(link);
  }, []);
}

export function SupervisorDashboard() {
  useStylesheet('/assets/workspace/supervisor.css');
  const [overview, setOverview] = useState(null);
  const [names, setNames] = useState({});
  const [error, setError] = useState(null);
  const [selected, setSelected] = useState(null);
  const [watched, setWatched] = useState(null);
  const [messages, setMessages] = useState([]);
  const pokeCharts = useRef(() => {});
  const watching = useRef(null);
  watching.current = watched?.id ?? null;

  async function loadNames() {
    try {
      const [queues, users] = await Promise.all([listAll('/v1/queues'), listAll('/v1/users')]);
      setNames(Object.fromEntries([...queues, ...users].map((x) => [x.id, x.name])));
    } catch (failure) {
      if (failure.status !== 401) setError(failure.message);
    }
  }

  const refreshSnapshot = useThrottle(async () => {
    try {
      const answer = await api('GET', '/v1/analytics/queues');
      setOverview(answer);
      setError(null);
      // A queue or agent routing knows that the names do not: read them again.
      if (answer.queues.some((q) => !(q.queue_id in names)) || answer.agents.some((a) => !(a.user_id in names))) {
        loadNames();
      }
    } catch (failure) {
      if (failure.status !== 401) setError(failure.status === 503 ? t('supervisor.no_leader') : failure.message);
    }
  }, SNAPSHOT_EVERY_MS);

  async function loadTranscript(id) {
    let cursor = null;
    do {
      const query = new URLSearchParams({ limit: '100', ...(cursor ? { cursor } : {}) });
      const page = await api('GET', `/v1/conversations/${id}/messages?${query}`);
      if (watching.current !== id) return;
      setMessages((now) => merged(now, page.data));
      cursor = page.next_cursor;
    } while (cursor);
  }

  function watch(conversation) {
    setWatched(conversation);
    watching.current = conversation.id;
    setMessages([]);
    loadTranscript(conversation.id).catch(() => {});
  }

  useEffect(() => {
    loadNames();
    refreshSnapshot();
  }, []);
  useEvery(SNAPSHOT_IDLE_MS, () => refreshSnapshot());

  const { connected } = useStream((frame) => {
    if (frame.type === 'stream.resync') {
      refreshSnapshot();
      pokeCharts.current();
      if (watching.current) loadTranscript(watching.current).catch(() => {});
      return;
    }
    if (frame.type === 'message.created' && frame.conversation_id === watching.current) {
      setMessages((now) => merged(now, [frame.data]));
    }
    if (frame.type === 'conversation.state_changed' && frame.conversation_id === watching.current) {
      setWatched(frame.data.conversation);
    }
    if (MOVES_QUEUES.has(frame.type)) refreshSnapshot();
    if (MOVES_CHARTS.has(frame.type)) pokeCharts.current();
  });

  const queues = overview?.queues ?? [];
  const queueName = (id) => names[id] ?? t('supervisor.queue');
  return html`
    <div class="desktop dashboard">
      <section class="wide" aria-labelledby="queues-title">
        <h2 id="queues-title">${t('supervisor.queues')}</h2>
        <p class="live" role="status">${connected ? t('supervisor.live') : t('supervisor.reconnecting')}</p>
        ${error && html`<p role="alert" class="error">${error}</p>`}
        ${!overview ? html`<p>${t('app.loading')}</p>` : queues.length === 0
          ? html`<p class="empty">${t('supervisor.no_queues')}</p>`
          : html`<div class="tiles">${queues.map((q) => html`<${QueueTile} key=${q.queue_id} queue=${q}
              name=${queueName(q.queue_id)} selected=${q.queue_id === selected}
              onSelect=${(id) => setSelected((now) => (now === id ? null : id))} />`)}</div>`}
      </section>
      <section class="wide" aria-labelledby="charts-title">
        <h2 id="charts-title">${t('supervisor.charts')}</h2>
        <${Charts} queues=${queues} names=${names} poke=${pokeCharts} />
      </section>
      <section aria-labelledby="agents-title">
        <h2 id="agents-title">${t('supervisor.agents')}</h2>
        ${overview && html`<${Agents} agents=${overview.agents} names=${names} />`}
      </section>
      ${selected && html`<section aria-labelledby="conversations-title">
        <h2 id="conversations-title">${t('supervisor.conversations', { name: queueName(selected) })}</h2>
        <${QueueConversations} queueId=${selected} name=${queueName(selected)} version=${overview}
          watching=${watched?.id} onWatch=${watch} />
      </section>`}
      ${watched && html`<section class="pane" aria-labelledby="watch-title">
        <${Watch} conversation=${watched} messages=${messages} />
      </section>`}
    </div>
  `;
}
