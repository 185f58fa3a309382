// A figure, not a test (run by hand; the test command does not): the supervisor dashboard live with 500 agents and
// 2,000 waiting conversations, and how often each tile renders. It prints what it sees and asserts no speed.
//
//   SWITCHBOARD_BIN=target/release/switchboard node --test tests/browser/dashboard_figure.mjs
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { browser, screenshot, server, shareServerAndBrowser } from './harness.mjs';
import { customerWrites, inParallel, openDashboard, ready, tileShows } from './supervisor_page.mjs';

shareServerAndBrowser(ready);

test('figure: the dashboard live with 500 agents and 2,000 waiting conversations', async () => {
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
