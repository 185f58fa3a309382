// The supervisor dashboard: a queue's waiting count rises as customers arrive and falls when the agent accepts, the
// interval's numbers reach the charts' table, and any conversation can be watched live. Its load figure is
// dashboard_figure.mjs (docs/benchmarks.md).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { browser, screenshot, server, shareServerAndBrowser, signIn } from './harness.mjs';
import { customerWrites, integration, openDashboard, ready, setPresence, tileShows } from './supervisor_page.mjs';

shareServerAndBrowser(ready);

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
  await server.api('POST', `/v1/conversations/${first.conversation.id}/messages`, { text: 'it is spreading' }, integration());
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
