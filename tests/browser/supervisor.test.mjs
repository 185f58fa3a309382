// The supervisor dashboard: a queue's waiting count rises as customers arrive and falls when the agent accepts, the
// interval's numbers reach the charts' table, and any conversation can be watched live.
//
// With SWITCHBOARD_MEASURE=1 a last test loads the dashboard with 500 agents and 2,000 waiting conversations and
// prints how often each tile rendered (docs/benchmarks.md); it asserts no speed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { browser, screenshot, server, shareServerAndBrowser, signIn } from './harness.mjs';

let token;
shareServerAndBrowser(async () => {
  token = await server.integrationToken();
});

function customerWrites(subject) {
  return server.api('POST', '/v1/conversations', {
    channel_id: server.demo.channel_id, subject, start_message: { text: `hello from ${subject}` },
  }, token);
}

async function setPresence(agent, presence) {
  await server.api('PUT', `/v1/agents/${agent.id}/presence`, { presence }, agent.api_key);
}

/// The number a tile shows under `label`, once it is `value`.
async function tileShows(tile, label, value) {
  await tile.locator(`dt:text-is("${label}") + dd`).filter({ hasText: new RegExp(`^${value}$`) }).waitFor();
}

async function openDashboard(context) {
  const page = await context.newPage();
  await signIn(page, server.base, server.demo.supervisor);
  await page.waitForURL(`${server.base}/supervisor`);
  await page.getByRole('status').getByText('Live').waitFor();
  return page;
}

test('a supervisor sees the waiting count rise and fall, the interval counted, and a conversation live', async () => {
  const ada = server.demo.agents[0];
  // Nobody takes conversations yet: they wait.
  await setPresence(ada, 'offline');
  const context = await browser.newContext();
  const page = await openDashboard(context);
  const tile = page.getByRole('region', { name: 'General' });
  await tileShows(tile, 'Waiting', 0);

  const first = await customerWrites('Printer on fire');
  await tileShows(tile, 'Waiting', 1);
  await customerWrites('Lost parcel');
  await tileShows(tile, 'Waiting', 2);
  await tileShows(tile, 'Offered now', 0);
  await screenshot(page, 'supervisor-waiting');

  // Ada comes online and is offered both; she accepts one, and one fewer waits.
  await setPresence(ada, 'available');
  await tileShows(tile, 'Offered now', 2);
  const offers = await server.api('GET', `/v1/agents/${ada.id}/offers`, undefined, ada.api_key);
  const offer = offers.data.find((o) => o.conversation_id === first.conversation.id && o.state === 'pending');
  await server.api('POST', `/v1/offers/${offer.id}/accept`, undefined, ada.api_key);
  await tileShows(tile, 'Waiting', 1);
  await tileShows(tile, 'Service level today', '100 %');

  // The charts' table gains this interval's numbers: two arrived, one answered, none abandoned.
  const table = page.getByRole('table', { name: 'Intervals with conversations, newest first' });
  const row = table.getByRole('row').filter({ has: page.getByRole('cell', { name: '2', exact: true }) })
    .filter({ has: page.getByRole('cell', { name: '1', exact: true }) });
  await row.first().waitFor();
  const cells = await row.first().getByRole('cell').allInnerTexts();
  assert.deepEqual(cells.slice(0, 3), ['2', '1', '0']);
  assert.ok(await page.getByRole('img', { name: 'Conversations per 15 minutes' }).isVisible());

  // The accepted conversation, watched live: a customer's new message appears in its transcript.
  await tile.getByRole('button', { name: 'Conversations of General' }).click();
  await page.getByRole('button', { name: 'Printer on fire' }).click();
  const transcript = page.getByRole('log', { name: 'Transcript' });
  await transcript.getByText('hello from Printer on fire').waitFor();
  await server.api('POST', `/v1/conversations/${first.conversation.id}/messages`, { text: 'it is spreading' }, token);
  await transcript.getByText('it is spreading').waitFor();
  await screenshot(page, 'supervisor-dashboard');
  await context.close();
});

test('an agent is not shown the dashboard', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, server.base, server.demo.agents[0]);
  await page.waitForURL(`${server.base}/agent`);
  await page.goto(`${server.base}/supervisor`);
  await page.getByRole('alert').getByText('This page is not for your role (agent).').waitFor();
  await context.close();
});

/// Runs `work` on `items`, `width` at a time.
async function inParallel(items, width, work) {
  const queue = [...items];
  await Promise.all(Array.from({ length: width }, async () => {
    while (queue.length) await work(queue.shift());
  }));
}

test('figure: the dashboard live with 500 agents and 2,000 waiting conversations', {
  skip: process.env.SWITCHBOARD_MEASURE !== '1' && 'set SWITCHBOARD_MEASURE=1 to measure',
}, async () => {
  const queue = server.demo.queue_id;
  const started = Date.now();
  const agents = [];
  await inParallel(Array.from({ length: 500 }, (_, i) => i), 16, async (i) => {
    const user = await server.api('POST', '/v1/users', { name: `Load agent ${i}`, role: 'agent' });
    agents.push(user.id);
    await server.api('PUT', `/v1/agents/${user.id}/routing`, { capacity_units: 1 });
  });
  await server.api('PUT', `/v1/queues/${queue}/members`, {
    user_ids: [...agents, ...server.demo.agents.map((a) => a.id)],
  });
  // A hundred of them at work (each takes one conversation); the rest away.
  await inParallel(agents.map((id, i) => [id, i < 100 ? 'available' : 'away']), 16, async ([id, presence]) => {
    await server.api('PUT', `/v1/agents/${id}/presence`, { presence });
  });
  console.log(`500 agents set up in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.addInitScript(() => {
    window.switchboardMeasure = { renders: {} };
  });
  const page = await openDashboard(context);
  const tile = page.getByRole('region', { name: 'General' });
  await tile.waitFor();
  const waiting = async () => {
    const snapshot = await server.api('GET', '/v1/analytics/queues');
    return [snapshot, snapshot.queues.find((q) => q.queue_id === queue).waiting];
  };
  const [, before] = await waiting();
  // Counted from here: the renders of the page's first load (its names arriving) are not live updates.
  await page.evaluate(() => {
    window.switchboardMeasure.renders = {};
  });
  const burst = Date.now();
  await inParallel(Array.from({ length: 2100 }, (_, i) => i), 16, (i) => customerWrites(`Load ${i}`));
  const seconds = (Date.now() - burst) / 1000;
  // Routing queues them after their commits: until it has, the numbers still move. Nobody accepts, so every one
  // of them waits (offered or not).
  let [snapshot, after] = await waiting();
  while (after < before + 2100) [snapshot, after] = await waiting();
  await tileShows(tile, 'Waiting', after);
  const timed = [];
  for (let i = 0; i < 20; i += 1) {
    const at = performance.now();
    await server.api('GET', '/v1/analytics/queues');
    timed.push(performance.now() - at);
  }
  timed.sort((a, b) => a - b);
  const renders = await page.evaluate(() => window.switchboardMeasure.renders);
  const perTile = Object.values(renders).map((times) => {
    // The most renders of the tile within any one second.
    let most = 0;
    for (let i = 0, j = 0; i < times.length; i += 1) {
      while (times[i] - times[j] >= 1000) j += 1;
      most = Math.max(most, i - j + 1);
    }
    return { renders: times.length, most };
  });
  const worst = Math.max(...perTile.map((p) => p.most));
  console.log(`2,100 conversations started in ${seconds.toFixed(1)} s; General waiting ${before} → ${after}, ` +
    `${snapshot.agents.length} agents`);
  console.log(`tiles: ${perTile.map((p) => `${p.renders} renders, at most ${p.most} in one second`).join('; ')}`);
  console.log(`GET /v1/analytics/queues with that load: p50 ${timed[10].toFixed(1)} ms, max ${timed[19].toFixed(1)} ms`);
  assert.ok(Number.isFinite(worst));
  await screenshot(page, 'supervisor-load');
  await context.close();
});
