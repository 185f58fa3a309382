// The customer chat, end to end: a website on another origin embeds the chat with its one tag; a customer answers
// the pre-chat form and writes; Ada sees the offer on the agent desktop, accepts and replies; the customer sees
// the reply (and her typing); Ada transfers the chat to another queue, where Bo takes it and ends it; the customer
// sees the chat end and downloads the transcript. Markup typed by the customer shows as text everywhere.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { browser, screenshot, server, shareServerAndBrowser, signIn } from './harness.mjs';

let shop;
let shopOrigin;
let escalations;

// A shop's website on its own origin (another port, another host name): one page with the one script tag.
function startShop(chatBase, channel) {
  const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Kettle shop</title></head>
<body><main><h1>Kettle shop</h1><p>Kettles of every kind.</p></main>
<script src="${chatBase}/chat/embed.js" data-channel="${channel}" async></script></body></html>`;
  const http = createServer((request, response) => {
    response.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8',
      // The shop's own strict policy: no inline script or style, only the chat's server besides itself.
      'Content-Security-Policy': `default-src 'self'; script-src 'self' ${chatBase}; frame-src ${chatBase}`,
    });
    response.end(page);
  });
  return new Promise((done) => http.listen(0, '127.0.0.1', () => done(http)));
}

shareServerAndBrowser(async () => {
  const channel = server.demo.chat_channel_id;
  shop = await startShop(server.base, channel);
  shopOrigin = `http://localhost:${shop.address().port}`;
  await server.api('PATCH', `/v1/channels/${channel}`, { settings: { allowed_origins: [shopOrigin] } });
  // A second queue whose only member is Bo, for the transfer.
  escalations = await server.api('POST', '/v1/queues', { name: 'Escalations' });
  await server.api('PUT', `/v1/queues/${escalations.id}/members`, { user_ids: [server.demo.agents[1].id] });
});

async function presence(agent, value) {
  await server.api('PUT', `/v1/agents/${agent.id}/presence`, { presence: value });
}

test('a customer chats from a website: offer, accept, reply, transfer to another queue, taken and ended there', async (t) => {
  t.after(() => shop.close());
  const [ada, bo] = server.demo.agents;
  // Nobody is available yet: the customer waits, and is told where.
  await presence(ada, 'offline');

  const customer = await browser.newContext();
  const site = await customer.newPage();
  const refused = [];
  site.on('console', (m) => { if (/Content Security Policy|Refused/i.test(m.text())) refused.push(m.text()); });
  await site.goto(`${shopOrigin}/`);
  await site.getByRole('button', { name: 'Chat with us' }).click();
  const chat = site.frameLocator('iframe[title="Chat"]');
  await chat.getByRole('heading', { name: 'Demo chat' }).waitFor();

  // The form refuses to start without the required name.
  await chat.getByRole('button', { name: 'Start chat' }).click();
  assert.equal(await chat.getByLabel(/Your name/).evaluate((input) => input.validity.valueMissing), true);
  await chat.getByLabel(/Your name/).fill('<b>Grace</b>');
  await chat.getByLabel('Email').fill('grace@example.com');
  await chat.getByLabel('How can we help?').fill('Broken <i>kettle</i>');
  await chat.getByRole('button', { name: 'Start chat' }).click();
  await chat.getByRole('status').getByText('You are number 1 in the queue').waitFor();

  const log = chat.getByRole('log', { name: 'Messages' });
  await chat.getByRole('textbox', { name: 'Message' }).fill('Hello <script>alert(1)</script>, my kettle leaks');
  await chat.getByRole('textbox', { name: 'Message' }).press('Enter');
  await log.getByText('Hello <script>alert(1)</script>, my kettle leaks').waitFor();
  await screenshot(site, 'chat-waiting');

  // Ada comes online and is offered the chat; she accepts and replies.
  const adaContext = await browser.newContext();
  const desk = await adaContext.newPage();
  await signIn(desk, server.base, ada);
  await desk.waitForURL(`${server.base}/agent`);
  await desk.getByRole('status').getByText('Live').waitFor();
  await presence(ada, 'available');
  const offer = desk.getByRole('listitem', { name: 'Offer: Broken <i>kettle</i>' });
  await offer.getByRole('button', { name: 'Accept' }).click();
  await chat.getByRole('status').getByText('You are chatting with Ada Agent.').waitFor();
  await desk.getByRole('button', { name: 'Broken <i>kettle</i>' }).click();
  const transcript = desk.getByRole('log', { name: 'Transcript' });
  await transcript.getByText('Hello <script>alert(1)</script>, my kettle leaks').waitFor();
  await desk.getByLabel('Message').pressSequentially('Sorry to hear');
  await chat.getByText('The agent is typing…').waitFor();
  await desk.getByLabel('Message').press('Enter');
  await log.getByText('Sorry to hear').waitFor();
  assert.equal(await chat.getByText('The agent is typing…').count(), 0, 'a message ends the typing it was');

  // The customer sends a photo: it shows in the chat and on Ada's transcript.
  const pixel = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
  await chat.getByLabel('Attach a file').setInputFiles({ name: 'kettle.png', mimeType: 'image/png', buffer: pixel });
  await log.getByRole('img', { name: 'kettle.png' }).waitFor();
  await transcript.getByRole('img', { name: 'kettle.png' }).waitFor();
  await screenshot(site, 'chat-with-agent');

  // Ada transfers the chat to Escalations; Bo, its one member, comes online, takes it and ends it.
  await desk.getByLabel('Transfer to').selectOption({ label: 'Escalations' });
  await desk.getByRole('button', { name: 'Transfer', exact: true }).click();
  await desk.getByRole('button', { name: 'Broken <i>kettle</i>' }).waitFor({ state: 'detached' });
  await chat.getByRole('status').getByText(/You are number 1 in the queue|Waiting for the next available agent/).waitFor();
  const boContext = await browser.newContext();
  const boDesk = await boContext.newPage();
  await signIn(boDesk, server.base, bo);
  await boDesk.waitForURL(`${server.base}/agent`);
  await boDesk.getByRole('status').getByText('Live').waitFor();
  await presence(bo, 'available');
  await boDesk.getByRole('listitem', { name: 'Offer: Broken <i>kettle</i>' }).getByRole('button', { name: 'Accept' }).click();
  await chat.getByRole('status').getByText('You are chatting with Bo Agent.').waitFor();
  await boDesk.getByRole('button', { name: 'Broken <i>kettle</i>' }).click();
  await boDesk.getByRole('log', { name: 'Transcript' }).getByText('Sorry to hear').waitFor();
  await boDesk.getByLabel('Message').fill('Bo here, a new kettle is on its way.');
  await boDesk.getByLabel('Message').press('Enter');
  await log.getByText('Bo here, a new kettle is on its way.').waitFor();
  await boDesk.getByRole('button', { name: 'End conversation' }).click();
  await chat.getByRole('status').getByText('The chat has ended.').waitFor();
  await boDesk.getByRole('button', { name: 'Close' }).click();
  await boDesk.getByText('Closed', { exact: true }).waitFor();
  assert.equal(await chat.getByRole('textbox', { name: 'Message' }).count(), 0, 'an ended chat takes no more messages');
  await screenshot(site, 'chat-ended');

  // The transcript, as the customer downloads it: every message, as text.
  const [download] = await Promise.all([
    site.waitForEvent('download'),
    chat.getByRole('button', { name: 'Download transcript' }).click(),
  ]);
  const text = readFileSync(await download.path(), 'utf8');
  for (const line of ['<b>Grace</b>: Hello <script>alert(1)</script>, my kettle leaks', 'Ada Agent: Sorry to hear',
    'Bo Agent: Bo here, a new kettle is on its way.', 'kettle.png']) {
    assert.ok(text.includes(line), `${line} in:\n${text}`);
  }

  // The conversation, as the API has it: closed by Bo, after the transfer from Ada.
  const listed = await server.api('GET', `/v1/conversations?channel_id=${server.demo.chat_channel_id}`);
  assert.equal(listed.data.length, 1, 'one chat, one conversation');
  const conversation = listed.data[0];
  assert.equal(conversation.state, 'closed');
  assert.equal(conversation.queue_id, escalations.id);
  assert.equal(conversation.agent_id, bo.id);
  assert.deepEqual(refused, [], 'the shop\'s strict policy refused nothing the chat needs');
  await customer.close();
  await adaContext.close();
  await boContext.close();
});

test('a site not in allowed_origins cannot frame the chat', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  // The same page on another origin, which the channel does not list.
  const other = await startShop(server.base, server.demo.chat_channel_id);
  await page.goto(`http://127.0.0.1:${other.address().port}/`);
  const refusal = page.waitForEvent('console', { predicate: (m) => /frame-ancestors/.test(m.text()) });
  await page.getByRole('button', { name: 'Chat with us' }).click();
  await refusal;
  const frame = page.frameLocator('iframe[title="Chat"]');
  assert.equal(await frame.getByRole('button', { name: 'Start chat' }).count(), 0);
  other.close();
  await context.close();
});

for (const width of [1280, 360]) {
  test(`the chat page meets WCAG AA at ${width} px, on the form and in a chat`, async () => {
    // The page's policy refuses injected scripts, axe's among them; the test's own context lifts it.
    const context = await browser.newContext({ bypassCSP: true, viewport: { width, height: 700 } });
    const page = await context.newPage();
    const violations = async () => {
      await page.addScriptTag({ path: createRequire(import.meta.url).resolve('axe-core/axe.min.js') });
      return page.evaluate(async () => {
        // eslint-disable-next-line no-undef
        const found = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
        return found.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
      });
    };
    await page.goto(`${server.base}/chat/${server.demo.chat_channel_id}`);
    await page.getByRole('button', { name: 'Start chat' }).waitFor();
    assert.deepEqual(await violations(), [], 'the pre-chat form');
    await page.getByLabel(/Your name/).fill('Ada Lovelace');
    await page.getByRole('button', { name: 'Start chat' }).click();
    await page.getByRole('textbox', { name: 'Message' }).fill(`Hello at ${width} px`);
    await page.getByRole('button', { name: 'Send' }).click();
    await page.getByRole('log', { name: 'Messages' }).getByText(`Hello at ${width} px`).waitFor();
    assert.deepEqual(await violations(), [], 'a chat');
    const sideways = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.equal(sideways, 0, 'nothing scrolls sideways');
    await screenshot(page, `chat-page-${width}px`);
    // A reload resumes the chat (the token is kept for the tab).
    await page.reload();
    await page.getByRole('log', { name: 'Messages' }).getByText(`Hello at ${width} px`).waitFor();
    await page.getByRole('button', { name: 'End chat' }).click();
    await page.getByRole('status').getByText('The chat has ended.').waitFor();
    await context.close();
  });
}
