// The agent desktop: an offer reaches the signed-in agent live, with its countdown, and accepting it makes the
// conversation theirs; rejecting one takes it off the screen.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser, screenshot, signIn, startServer } from './harness.mjs';

let server;
let browser;
let token;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  token = await server.integrationToken();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function customerWrites(subject) {
  return server.api('POST', '/v1/conversations', {
    channel_id: server.demo.channel_id, subject, start_message: { text: 'hello, I need help' },
  }, token);
}

test('an offer appears live on the agent desktop, and accepting it makes the conversation the agent\'s', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const ada = server.demo.agents[0];
  await signIn(page, server.base, ada);
  await page.waitForURL(`${server.base}/agent`);
  await page.getByRole('status').getByText('Live').waitFor();
  await page.getByText('No offers right now.').waitFor();

  const created = await customerWrites('Broken router');
  const offer = page.getByRole('listitem', { name: 'Offer: Broken router' });
  await offer.waitFor();
  assert.match(await offer.innerText(), /\d+ s left/);
  assert.match(await offer.innerText(), /Queue: \S/);
  await screenshot(page, 'agent-offer');

  await offer.getByRole('button', { name: 'Accept' }).click();
  await page.getByRole('heading', { name: 'Active (1)' }).waitFor();
  await page.getByText('No offers right now.').waitFor();
  const conversation = await server.api('GET', `/v1/conversations/${created.conversation.id}`);
  assert.equal(conversation.state, 'active');
  assert.equal(conversation.agent_id, ada.id);
  await screenshot(page, 'agent-accepted');
  await context.close();
});

test('a rejected offer leaves the screen and the conversation stays with its queue', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, server.base, server.demo.agents[0]);
  await page.waitForURL(`${server.base}/agent`);
  await page.getByRole('status').getByText('Live').waitFor();
  const created = await customerWrites('Billing question');
  const offer = page.getByRole('listitem', { name: 'Offer: Billing question' });
  await offer.getByRole('button', { name: 'Reject' }).click();
  await offer.waitFor({ state: 'detached' });
  const conversation = await server.api('GET', `/v1/conversations/${created.conversation.id}`);
  assert.notEqual(conversation.agent_id, server.demo.agents[0].id);
  await context.close();
});
