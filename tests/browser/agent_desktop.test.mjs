// The agent desktop: an offer reaches the signed-in agent live, with its countdown, and accepting it makes the
// conversation theirs; rejecting one takes it off the screen.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { browser, screenshot, server, shareServerAndBrowser, signIn } from './harness.mjs';

let token;
shareServerAndBrowser(async () => {
  token = await server.integrationToken();
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

  // The first load of the agent page, as a browser with nothing cached makes it (printed, not asserted).
  const cold = await browser.newContext({ storageState: await context.storageState() });
  const first = await cold.newPage();
  await first.goto(`${server.base}/agent`);
  await first.getByRole('status').getByText('Live').waitFor();
  const load = await first.evaluate(() => {
    const [navigation] = performance.getEntriesByType('navigation');
    const files = [navigation, ...performance.getEntriesByType('resource')];
    return {
      loaded: navigation.loadEventEnd,
      bytes: files.reduce((sum, f) => sum + f.transferSize, 0),
      files: files.length,
    };
  });
  console.log(`agent page first load: load event at ${load.loaded.toFixed(0)} ms, ` +
    `${(load.bytes / 1024).toFixed(1)} KB in ${load.files} responses`);
  await cold.close();
  await page.getByText('No offers right now.').waitFor();

  const created = await customerWrites('Broken router');
  const offer = page.getByRole('listitem', { name: 'Offer: Broken router' });
  await offer.waitFor();
  assert.match(await offer.innerText(), /\d+ s left/);
  assert.match(await offer.innerText(), /Queue: \S/);
  assert.match(await offer.innerText(), /Channel: Demo channel/);
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

/// When each text first shows in the transcript, by the page's clock (the same wall clock as the test's).
async function watchTranscript(page) {
  await page.evaluate(() => {
    window.seenAt = {};
    const log = document.querySelector('[role=log]');
    const note = () => log.querySelectorAll('.text').forEach((node) => {
      window.seenAt[node.textContent] ??= performance.timeOrigin + performance.now();
    });
    note();
    new MutationObserver(note).observe(log, { childList: true, subtree: true, characterData: true });
  });
}

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

test('agent and customer talk live: every message once and in order, across a cut connection', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  // The page's stream passes through the test, which can cut it as a network would, and refuse reconnects.
  let stream = null;
  let cut = false;
  await page.routeWebSocket(/\/v1\/stream/, (socket) => {
    if (cut) {
      socket.close({ code: 4000, reason: 'the network is down' });
      return;
    }
    socket.connectToServer();
    stream = socket;
  });
  const ada = server.demo.agents[0];
  await signIn(page, server.base, ada);
  await page.waitForURL(`${server.base}/agent`);
  await page.getByRole('status').getByText('Live').waitFor();
  const { conversation } = await customerWrites('Late order');
  const send = (text) => server.api('POST', `/v1/conversations/${conversation.id}/messages`, { text }, token);
  await page.getByRole('listitem', { name: 'Offer: Late order' }).getByRole('button', { name: 'Accept' }).click();
  await page.getByRole('button', { name: 'Late order' }).click();
  const transcript = page.getByRole('log', { name: 'Transcript' });
  await transcript.getByText('hello, I need help').waitFor();
  await watchTranscript(page);

  // Send → shown on the agent's page, one message at a time.
  const latencies = [];
  for (let i = 1; i <= 20; i += 1) {
    const text = `customer message ${i}`;
    const sentAt = Date.now();
    await send(text);
    await transcript.getByText(text, { exact: true }).waitFor();
    latencies.push((await page.evaluate((t) => window.seenAt[t], text)) - sentAt);
  }
  console.log(`customer send → visible on the agent's page over ${latencies.length} messages: ` +
    `p50 ${percentile(latencies, 50).toFixed(1)} ms, p95 ${percentile(latencies, 95).toFixed(1)} ms, ` +
    `max ${Math.max(...latencies).toFixed(1)} ms`);

  // The connection drops while the customer goes on writing; when it is back, nothing is missing or doubled.
  cut = true;
  await stream.close({ code: 4000, reason: 'the network is down' });
  await page.getByRole('status').getByText('Reconnecting…').waitFor();
  for (const text of ['while away 1', 'while away 2', 'while away 3']) await send(text);
  cut = false;
  await page.getByRole('status').getByText('Live').waitFor();
  await transcript.getByText('while away 3', { exact: true }).waitFor();
  const texts = await transcript.locator('.text').allInnerTexts();
  const expected = ['hello, I need help', ...latencies.map((_, i) => `customer message ${i + 1}`),
    'while away 1', 'while away 2', 'while away 3'];
  assert.deepEqual(texts, expected);
  await screenshot(page, 'agent-conversation');

  // The agent answers with the keyboard, ends the conversation and closes it.
  await page.getByLabel('Message').fill('Your order ships today.');
  await page.getByLabel('Message').press('Enter');
  await transcript.getByText('Your order ships today.').waitFor();
  const stored = await server.api('GET', `/v1/conversations/${conversation.id}/messages?limit=100`, undefined, token);
  const reply = stored.data.find((m) => m.text === 'Your order ships today.');
  assert.equal(reply.sender.kind, 'agent');
  assert.equal(reply.sender.id, ada.id);
  await page.getByRole('button', { name: 'End conversation' }).click();
  await page.getByRole('button', { name: 'Close' }).click();
  await page.getByText('Closed', { exact: true }).waitFor();
  const closed = await server.api('GET', `/v1/conversations/${conversation.id}`);
  assert.equal(closed.state, 'closed');
  await context.close();
});

/// An SSE stream opened as a program; `first(wanted)` reads until a frame `wanted` accepts. The stream is
/// subscribed once its headers are in, before anything that should reach it happens.
async function openStream(path, bearer) {
  const response = await fetch(server.base + path, {
    headers: { Authorization: `Bearer ${bearer}`, Accept: 'text/event-stream' },
    signal: AbortSignal.timeout(30_000),
  });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  async function first(wanted) {
    let seen = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the stream ended: ${seen}`);
      seen += value;
      for (const line of seen.split('\n')) {
        if (!line.startsWith('data:')) continue;
        const frame = JSON.parse(line.slice(5));
        if (wanted(frame)) {
          reader.cancel();
          return frame;
        }
      }
    }
  }
  return { first };
}

test('the agent sees who the customer is and that they type, types back, and transfers with the keyboard and a form', async () => {
  const other = await server.api('POST', '/v1/queues', { name: 'Billing' });
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, server.base, server.demo.agents[0]);
  await page.waitForURL(`${server.base}/agent`);
  await page.getByRole('status').getByText('Live').waitFor();
  const { conversation } = await server.api('POST', '/v1/conversations', {
    channel_id: server.demo.channel_id, subject: 'Refund',
    customer: { customer_id: 'grace', first_name: 'Grace', last_name: 'Hopper', email: 'grace@example.com' },
    context: { Plan: { value: 'Gold', displayable: true }, InternalScore: { value: 7, displayable: false } },
    start_message: { text: 'I want a refund' },
  }, token);
  await page.getByRole('listitem', { name: 'Offer: Refund' }).waitFor();
  await page.keyboard.press('Alt+A');
  await page.getByRole('button', { name: 'Refund' }).click();

  const details = page.getByRole('region', { name: 'Customer' });
  await details.getByText('Grace Hopper').waitFor();
  await details.getByText('grace@example.com').waitFor();
  await details.getByText('Gold').waitFor();
  assert.equal(await details.getByText('InternalScore').count(), 0, 'a variable not displayable stays hidden');

  const invoice = 'https://files.example.com/invoice-42.pdf';
  await server.api('POST', `/v1/conversations/${conversation.id}/messages`, {
    text: 'my invoice', attachments: [{ content_type: 'application/pdf', url: invoice, name: 'invoice-42.pdf' }],
  }, token);
  const link = page.getByRole('log', { name: 'Transcript' }).getByRole('link', { name: 'invoice-42.pdf' });
  assert.equal(await link.getAttribute('href'), invoice);

  const typing = await fetch(`${server.base}/v1/conversations/${conversation.id}/typing`, {
    method: 'POST', headers: { Authorization: `Bearer ${token}` },
  });
  assert.equal(typing.status, 204);
  await page.getByText('The customer is typing…').waitFor();

  const stream = await openStream(`/v1/stream?types=conversation.typing&conversation_id=${conversation.id}`, token);
  await page.getByLabel('Message').pressSequentially('One moment');
  const frame = await stream.first((f) => f.type === 'conversation.typing');
  assert.equal(frame.data.agent_id, server.demo.agents[0].id);
  await screenshot(page, 'agent-details-typing');

  await page.getByLabel('Transfer to').selectOption({ label: 'Billing' });
  await page.getByRole('button', { name: 'Transfer', exact: true }).click();
  await page.getByRole('button', { name: 'Refund' }).waitFor({ state: 'detached' });
  const moved = await server.api('GET', `/v1/conversations/${conversation.id}`);
  assert.equal(moved.queue_id, other.id);
  assert.equal(moved.state, 'open');
  await context.close();
});
