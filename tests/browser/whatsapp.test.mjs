// A WhatsApp conversation on the agent desktop, through Meta's Cloud API: the customer's message (a webhook signed
// with the app secret, as Meta signs it) reaches Ada; her reply goes to the Graph API (a local fake that answers as
// Meta does), and the statuses Meta reports for it (sent, delivered, read) show under it as they arrive. Ada sends
// an approved template from the page; the Graph API receives it as a template message, and the transcript says so.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import { launchBrowser, screenshot, signIn, startServer, until } from './harness.mjs';

const NUMBER_ID = '106540352242922';
const APP_SECRET = 'browser-test-app-secret';
const CUSTOMER = '16505551234';

let server;
let browser;
let graph;
const sent = [];

before(async () => {
  // The Graph API's messages endpoint: every send is kept, and answered with its `wamid` as Meta answers.
  graph = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => { body += chunk; });
    request.on('end', () => {
      const ok = request.method === 'POST' && request.url.endsWith(`/${NUMBER_ID}/messages`)
        && request.headers.authorization === 'Bearer browser-test-token';
      if (!ok) {
        response.writeHead(401, { 'Content-Type': 'application/json' });
        response.end(JSON.stringify({ error: { message: 'Invalid OAuth access token', type: 'OAuthException', code: 190 } }));
        return;
      }
      const id = `wamid.browser-${sent.length + 1}`;
      sent.push({ id, body: JSON.parse(body) });
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify({ messaging_product: 'whatsapp', contacts: [{ input: CUSTOMER, wa_id: CUSTOMER }],
        messages: [{ id }] }));
    });
  });
  await new Promise((listening) => graph.listen(0, '127.0.0.1', listening));
  server = await startServer({ env: {
    SWITCHBOARD_CHANNELS__META__GRAPH_URL: `http://127.0.0.1:${graph.address().port}`,
    SWITCHBOARD_WEBHOOKS__ALLOW_LOOPBACK: 'true',
  } });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  graph?.closeAllConnections();
  await new Promise((closed) => (graph ? graph.close(closed) : closed()));
  await server?.stop();
});

/// Posts what Meta posts to the channel's webhook, signed with the app secret.
async function notify(webhook, value) {
  const body = JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: '102290129340398', changes: [{
    field: 'messages',
    value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '15550783881', phone_number_id: NUMBER_ID },
      ...value },
  }] }] });
  const signature = `sha256=${createHmac('sha256', APP_SECRET).update(body).digest('hex')}`;
  const response = await fetch(webhook, {
    method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Hub-Signature-256': signature }, body,
  });
  assert.equal(response.status, 200, await response.text());
}

const status = (id, state) => ({ statuses: [{ id, status: state, timestamp: `${Math.floor(Date.now() / 1000)}`,
  recipient_id: CUSTOMER }] });

test('a WhatsApp reply shows what Meta reports of it, and a template goes from the page', async () => {
  const demoChannel = await server.api('GET', `/v1/channels/${server.demo.channel_id}`);
  const account = await server.api('POST', '/v1/messaging-accounts', {
    name: 'Contoso WhatsApp', kind: 'whatsapp', method: 'meta', settings: { phone_number_id: NUMBER_ID },
    credentials: { access_token: 'browser-test-token', app_secret: APP_SECRET, verify_token: 'verify' },
  });
  const channel = await server.api('POST', `/v1/messaging-accounts/${account.id}/channels`, {
    name: 'WhatsApp', workstream_id: demoChannel.workstream_id,
  });
  const webhook = new URL(new URL(channel.messaging_endpoint_url).pathname, server.base).toString();
  assert.match(webhook, /\/channels\/whatsapp\/[^/]+\/webhook$/);

  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, server.base, server.demo.agents[0]);
  await page.waitForURL(`${server.base}/agent`);
  await page.getByRole('status').getByText('Live').waitFor();

  await notify(webhook, {
    contacts: [{ profile: { name: 'Grace' }, wa_id: CUSTOMER }],
    messages: [{ from: CUSTOMER, id: 'wamid.in-1', timestamp: `${Math.floor(Date.now() / 1000)}`, type: 'text',
      text: { body: 'Where is my parcel?' } }],
  });
  const offer = page.getByRole('listitem', { name: /^Offer: / }).filter({ hasText: 'WhatsApp' });
  await offer.getByRole('button', { name: 'Accept' }).click();
  await page.getByRole('heading', { name: 'Active (1)' }).waitFor();
  await page.getByRole('list').getByRole('button', { name: /\+?16505551234|Grace/ }).first().click();
  const log = page.getByRole('log', { name: 'Transcript' });
  await log.getByText('Where is my parcel?').waitFor();

  await page.getByLabel('Message').fill('It left our warehouse this morning.');
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  const reply = await until('the reply at the Graph API', async () => sent.find((s) => s.body.type === 'text'));
  assert.equal(reply.body.to, CUSTOMER);
  assert.equal(reply.body.text.body, 'It left our warehouse this morning.');
  const line = log.getByRole('listitem').filter({ hasText: 'It left our warehouse this morning.' });
  await line.getByText('Accepted by the provider').waitFor();
  // Meta's statuses, as its webhook reports them: the latest shows, and a late `sent` does not undo `read`.
  for (const state of ['sent', 'delivered', 'read', 'sent']) await notify(webhook, status(reply.id, state));
  await line.getByText('Read', { exact: true }).waitFor();
  await screenshot(page, 'whatsapp-statuses');

  // A template, named as Meta names it, with the values of its variables one a line.
  await page.getByRole('button', { name: 'WhatsApp template' }).click();
  const form = page.getByRole('form', { name: 'WhatsApp template' });
  await form.getByLabel('Template name or content SID').fill('order_update');
  await form.getByLabel('Language').fill('en_US');
  await form.getByLabel('Values of its variables').fill('Grace\n#1234');
  await form.getByLabel('Text for the transcript').fill('Your order #1234 has shipped');
  await form.getByRole('button', { name: 'Send template' }).click();
  const template = await until('the template at the Graph API', async () => sent.find((s) => s.body.type === 'template'));
  assert.deepEqual(template.body.template, { name: 'order_update', language: { code: 'en_US' }, components: [
    { type: 'body', parameters: [{ type: 'text', text: 'Grace' }, { type: 'text', text: '#1234' }] },
  ] });
  const shown = log.getByRole('listitem').filter({ hasText: 'Your order #1234 has shipped' });
  await shown.getByText('Sent as template order_update').waitFor();
  await form.waitFor({ state: 'detached' });
  await screenshot(page, 'whatsapp-template');
  await context.close();
});
