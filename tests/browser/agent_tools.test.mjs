// The agent desktop's tools: files, quick replies, transfer to a colleague, wrap-up with a closing reason, a
// message the customer's channel never got, markup shown as text, and an offer someone else took first.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { browser, screenshot, server, shareServerAndBrowser, signIn } from './harness.mjs';

// The demo channel's webhook is pointed at a receiver on this machine that is down (503); one retry, a second later.
process.env.SWITCHBOARD_WEBHOOKS__ALLOW_LOOPBACK = 'true';
process.env.SWITCHBOARD_WEBHOOKS__RETRY_SCHEDULE_SECONDS = '[1]';

let token;
shareServerAndBrowser(async () => {
  token = await server.integrationToken();
});

async function signedInAgent(who) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, server.base, who);
  await page.waitForURL(`${server.base}/agent`);
  await page.getByRole('status').getByText('Live').waitFor();
  return { context, page };
}

/// A customer writes; `page`'s agent accepts the offer and opens the conversation.
async function takeNew(page, subject, text = 'hello') {
  const { conversation } = await server.api('POST', '/v1/conversations', {
    channel_id: server.demo.channel_id, subject, start_message: { text },
  }, token);
  await page.getByRole('listitem', { name: `Offer: ${subject}` }).getByRole('button', { name: 'Accept' }).click();
  await page.getByRole('button', { name: subject }).click();
  return conversation;
}

/// Ends and closes a conversation a test leaves open, so that the agent's capacity is free for the next test.
async function finish(conversation) {
  const now = await server.api('GET', `/v1/conversations/${conversation.id}`);
  if (now.state === 'active') await server.api('POST', `/v1/conversations/${conversation.id}/end`, {});
  if (now.state !== 'closed') await server.api('POST', `/v1/conversations/${conversation.id}/close`, {});
}

test('the agent sends a file, inserts a quick reply, and both reach the conversation', async () => {
  await server.api('POST', '/v1/quick-replies', { title: 'Opening hours', text: 'We are open 8:00 to 18:00.' });
  const { context, page } = await signedInAgent(server.demo.agents[0]);
  const conversation = await takeNew(page, 'Photo of the damage');
  const transcript = page.getByRole('log', { name: 'Transcript' });

  const png = Buffer.from(
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
  await page.getByLabel('Attach files').setInputFiles({ name: 'damage.png', mimeType: 'image/png', buffer: png });
  const image = transcript.getByRole('img', { name: 'damage.png' });
  await image.waitFor();
  // The preview is the file itself, loaded by its signed link.
  const width = await image.evaluate((img) => (img.complete && img.naturalWidth) || new Promise((done) => {
    img.addEventListener('load', () => done(img.naturalWidth));
    img.addEventListener('error', () => done(0));
  }));
  assert.equal(width, 1);

  await page.getByLabel('Quick reply').selectOption({ label: 'Opening hours' });
  assert.equal(await page.getByLabel('Message').inputValue(), 'We are open 8:00 to 18:00.');
  await page.getByLabel('Message').press('Enter');
  await transcript.getByText('We are open 8:00 to 18:00.').waitFor();
  await screenshot(page, 'agent-file-quick-reply');

  const { data } = await server.api('GET', `/v1/conversations/${conversation.id}/messages`, undefined, token);
  assert.deepEqual(data.map((m) => [m.sender.kind, m.text ?? null, m.attachments.map((a) => a.name)]), [
    ['customer', 'hello', []],
    ['agent', null, ['damage.png']],
    ['agent', 'We are open 8:00 to 18:00.', []],
  ]);

  // A file the workstream refuses is not sent, and the agent is told why.
  await page.getByLabel('Attach files').setInputFiles({ name: 'tool.exe', mimeType: 'application/x-msdownload', buffer: Buffer.from('MZ') });
  await page.getByRole('alert').getByText(/does not accept `application\/x-msdownload`/).waitFor();

  // The address names the open conversation: a reload opens it again.
  assert.equal(new URL(page.url()).searchParams.get('conversation'), conversation.id);
  await page.reload();
  await transcript.getByText('We are open 8:00 to 18:00.').waitFor();
  await finish(conversation);
  await context.close();
});

test('a customer\'s markup shows as text, and a reply the channel refused says so beside it', async () => {
  let refused = 0;
  const receiver = createServer((request, response) => {
    refused += 1;
    request.resume();
    response.writeHead(503).end();
  });
  await new Promise((done) => receiver.listen(0, '127.0.0.1', done));
  const channel = server.demo.channel_id;
  const webhook = `http://127.0.0.1:${receiver.address().port}`;
  await server.api('PATCH', `/v1/channels/${channel}`, { settings: { webhook_url: webhook, app_id: 'demo' } });
  try {
    const { context, page } = await signedInAgent(server.demo.agents[0]);
    const markup = '<img src=x onerror="window.pwned=1"><b>bold?</b>';
    const conversation = await takeNew(page, 'Markup', markup);
    const transcript = page.getByRole('log', { name: 'Transcript' });
    await transcript.getByText(markup, { exact: true }).waitFor();
    assert.equal(await transcript.locator('b, img[src=x]').count(), 0, 'nothing the customer wrote became markup');
    assert.equal(await page.evaluate(() => window.pwned), undefined);

    await page.getByLabel('Message').fill('Can you see this?');
    await page.getByLabel('Message').press('Enter');
    const reply = transcript.getByRole('listitem').filter({ hasText: 'Can you see this?' });
    await reply.getByRole('status').getByText('Not delivered to the customer: the receiver answered 503').waitFor();
    assert.ok(refused >= 2, 'the reply was tried twice');
    await screenshot(page, 'agent-undelivered');
    // Opened again, the page reads the failure from the conversation's log.
    await page.reload();
    await page.getByRole('button', { name: 'Markup' }).click();
    await reply.getByRole('status').getByText('Not delivered to the customer: the receiver answered 503').waitFor();
    await finish(conversation);
    await context.close();
  } finally {
    await server.api('PATCH', `/v1/channels/${channel}`, { settings: { webhook_url: null } });
    receiver.close();
  }
});

test('transfer to a colleague, who accepts; wrap-up records the closing reason', async () => {
  const [ada, bo] = server.demo.agents;
  const first = await signedInAgent(ada);
  // Bo signs in, which makes him available (his default presence), once Ada holds the conversation, so that
  // routing offers it to her.
  const conversation = await takeNew(first.page, 'Upgrade');
  const second = await signedInAgent(bo);
  await server.api('PUT', `/v1/agents/${bo.id}/presence`, { presence: 'available' });
  await first.page.getByLabel('Transfer to').selectOption({ label: bo.name });
  await first.page.getByRole('button', { name: 'Transfer', exact: true }).click();

  const offer = second.page.getByRole('listitem', { name: 'Offer: Upgrade' });
  await offer.getByRole('button', { name: 'Accept' }).click();
  await second.page.getByRole('button', { name: 'Upgrade' }).click();
  await second.page.getByRole('button', { name: 'End conversation' }).click();
  await second.page.getByLabel('Closing reason (optional)').fill('Upgraded to Gold');
  await screenshot(second.page, 'agent-wrap-up');
  await second.page.getByRole('button', { name: 'Close' }).click();
  await second.page.getByText('Closed', { exact: true }).waitFor();
  const closed = await server.api('GET', `/v1/conversations/${conversation.id}`);
  assert.equal(closed.state, 'closed');
  assert.equal(closed.agent_id, bo.id);
  assert.equal(closed.closure_reason, 'Upgraded to Gold');
  await server.api('PUT', `/v1/agents/${bo.id}/presence`, { presence: 'offline' });
  await first.context.close();
  await second.context.close();
});

test('an offer taken by someone else first: the agent is told, and it leaves the screen', async () => {
  const [ada, bo] = server.demo.agents;
  const context = await browser.newContext();
  const page = await context.newPage();
  // The stream passes through the test, which can hold its frames back: Ada's screen then still shows an offer
  // that is no longer hers, as it would for the moment between a supervisor's action and the frame saying so.
  let holding = false;
  const held = [];
  let toPage = null;
  await page.routeWebSocket(/\/v1\/stream/, (socket) => {
    const upstream = socket.connectToServer();
    toPage = socket;
    upstream.onMessage((frame) => (holding ? held.push(frame) : socket.send(frame)));
  });
  await signIn(page, server.base, ada);
  await page.waitForURL(`${server.base}/agent`);
  await page.getByRole('status').getByText('Live').waitFor();
  const { conversation } = await server.api('POST', '/v1/conversations', {
    channel_id: server.demo.channel_id, subject: 'Contested', start_message: { text: 'anyone?' },
  }, token);
  const offer = page.getByRole('listitem', { name: 'Offer: Contested' });
  await offer.waitFor();
  holding = true;
  await server.api('POST', `/v1/conversations/${conversation.id}/accept`, { agent_id: bo.id });
  await offer.getByRole('button', { name: 'Accept' }).click();
  await page.getByRole('alert').waitFor();
  await offer.waitFor({ state: 'detached' });
  await screenshot(page, 'agent-offer-taken');
  holding = false;
  for (const frame of held) toPage.send(frame);
  const taken = await server.api('GET', `/v1/conversations/${conversation.id}`);
  assert.equal(taken.agent_id, bo.id);

  // A link to Bo's conversation, or to one that does not exist, shows Ada nothing of it.
  for (const id of [conversation.id, '01900000-0000-7000-8000-000000000000']) {
    await page.goto(`${server.base}/agent?conversation=${id}`);
    await page.getByRole('alert').getByText('That conversation does not exist, or it is not yours to see.').waitFor();
    assert.equal(await page.getByRole('log', { name: 'Transcript' }).count(), 0);
  }
  await finish(conversation);
  await context.close();
});
