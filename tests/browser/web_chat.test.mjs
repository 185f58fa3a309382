// Bot Framework Web Chat: Microsoft's own chat page (the npm `botframework-webchat` bundle, unmodified) in Debian's
// chromium, talking to the demo server's Direct Line with a token made from the demo's Direct Line secret, as a web
// page that embeds Web Chat is set up. The customer writes in Web Chat's send box; the demo agent Ada (through the
// API) accepts the offer, types and answers; Web Chat shows her typing and her answer. The customer sends a file with
// Web Chat's upload button, and Ada finds it on the message. A reload resumes the conversation from its id: Web Chat
// shows the whole transcript once, in order.
//
// The page is served by a site of its own (a Node HTTP server on another port, so another origin), as an
// organization's website embeds Web Chat: Web Chat calls `/v3/directline` across origins (CORS) and opens its
// WebSocket there.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import { launchBrowser, screenshot, startServer, until } from './harness.mjs';

const WEBCHAT = readFileSync(new URL('./node_modules/botframework-webchat/dist/webchat.js', import.meta.url));

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Contoso support</title>
<style>html, body, #webchat { height: 100%; margin: 0 }</style></head>
<body><main id="webchat"></main>
<script src="/webchat.js"></script>
<script>
  const params = new URLSearchParams(location.search);
  const directLine = window.WebChat.createDirectLine({
    token: params.get('token'),
    conversationId: params.get('conversation') || undefined,
    domain: params.get('directline'),
  });
  window.WebChat.renderWebChat({ directLine, userID: params.get('user'), username: 'Wendy', locale: 'en-US' },
    document.getElementById('webchat'));
</script></body></html>`;

let server;
let browser;
let ada;
let site;
let siteBase;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  ada = server.demo.agents[0];
  site = createServer((request, response) => {
    const script = request.url.startsWith('/webchat.js');
    response.writeHead(200, { 'Content-Type': script ? 'text/javascript' : 'text/html; charset=utf-8' });
    response.end(script ? WEBCHAT : PAGE);
  });
  await new Promise((listening) => site.listen(0, '127.0.0.1', listening));
  siteBase = `http://127.0.0.1:${site.address().port}`;
});
after(async () => {
  await browser?.close();
  site?.closeAllConnections();
  await new Promise((closed) => (site ? site.close(closed) : closed()));
  await server?.stop();
});

/// The site's page with Web Chat, signed in with `token` (resuming `conversation` when given).
async function webChat(context, token, user, conversation) {
  const page = await context.newPage();
  const directline = `${server.base}/v3/directline`;
  const query = new URLSearchParams({ token, user, directline, ...(conversation ? { conversation } : {}) });
  await page.goto(`${siteBase}/?${query}`);
  return page;
}

/// A message's text in Web Chat's transcript.
function bubble(page, text) {
  return page.locator('p.webchat__text-content', { hasText: text });
}

/// The texts of Web Chat's transcript, as the customer reads them, in order.
async function transcript(page) {
  return page.locator('p.webchat__text-content').allInnerTexts();
}

test('a customer chats with an agent through Web Chat, sends a file and resumes after a reload', async () => {
  const user = 'dl_web-chat-wendy';
  const generated = await fetch(`${server.base}/v3/directline/tokens/generate`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${server.demo.directline_secret}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ user: { id: user, name: 'Wendy' } }),
  });
  assert.equal(generated.status, 200);
  const { token, conversationId } = await generated.json();
  const context = await browser.newContext();
  try {
    const page = await webChat(context, token, user);
    const sendBox = page.getByRole('textbox', { name: /message/i });
    await sendBox.waitFor();
    await sendBox.fill('Where is my parcel?');
    await sendBox.press('Enter');

    const offer = await until('the offer to Ada', async () => {
      const offers = await server.api('GET', `/v1/agents/${ada.id}/offers`, undefined, ada.api_key);
      return offers.data.find((o) => o.conversation_id === conversationId);
    });
    await server.api('POST', `/v1/offers/${offer.id}/accept`, {}, ada.api_key);
    await server.api('POST', `/v1/conversations/${conversationId}/typing`, undefined, ada.api_key);
    await page.locator('.webchat__typing-indicator').first().waitFor();
    await server.api('POST', `/v1/conversations/${conversationId}/messages`, { text: 'It arrives tomorrow' }, ada.api_key);
    await bubble(page, 'It arrives tomorrow').waitFor();

    // Web Chat's upload button: the file goes up through Direct Line's upload, and Ada finds it on the message.
    await page.locator('input[type="file"]').setInputFiles({
      name: 'receipt.txt', mimeType: 'text/plain', buffer: Buffer.from('order 4411, paid'),
    });
    // Web Chat holds the chosen file in its send box until the customer sends it.
    await page.getByRole('button', { name: 'Send' }).click();
    const withFile = await until('the file on a message', async () => {
      const page = await server.api('GET', `/v1/conversations/${conversationId}/messages`, undefined, ada.api_key);
      return page.data.find((m) => m.attachments?.some((a) => a.name === 'receipt.txt'));
    });
    assert.equal(withFile.sender.kind, 'customer');
    const file = withFile.attachments.find((a) => a.name === 'receipt.txt');
    const body = await fetch(file.url, { headers: { Authorization: `Bearer ${ada.api_key}` } });
    assert.equal(await body.text(), 'order 4411, paid');
    await screenshot(page, 'web-chat');

    // A reload resumes the conversation with its id: every message once, in order.
    await page.close();
    const again = await webChat(context, token, user, conversationId);
    await bubble(again, 'It arrives tomorrow').waitFor();
    const texts = (await transcript(again)).filter((t) => t === 'Where is my parcel?' || t === 'It arrives tomorrow');
    assert.deepEqual(texts, ['Where is my parcel?', 'It arrives tomorrow']);
  } finally {
    await context.close();
  }
});
