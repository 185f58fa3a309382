// Direct Line: the unmodified npm client `botframework-directlinejs`, pointed at the demo server's `/v3/directline`
// with the demo's Direct Line secret, starts a conversation and writes; the demo agent Ada (through the API, with her
// key) accepts the offer and answers; the client receives the answer over the WebSocket, then over polling
// (`webSocket: false`); a new client given the token and conversation id (which reconnects with GET
// conversations/{id}) receives every activity once, in order. Under Node the client needs the browser's WebSocket
// and XMLHttpRequest: the npm `ws` and `xhr2` packages stand in, as they do wherever the client runs under Node.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import WebSocket from 'ws';
import XMLHttpRequest from 'xhr2';
import { startServer, until } from './harness.mjs';

globalThis.WebSocket = WebSocket;
globalThis.XMLHttpRequest = XMLHttpRequest;
// Imported after the globals are set: the client checks for a WebSocket when it is built.
const { DirectLine, ConnectionStatus } = await import('botframework-directlinejs');

let server;
let ada;
before(async () => {
  server = await startServer();
  ada = server.demo.agents[0];
});
after(async () => server?.stop());

/// Clients still open when a test ends (it failed half-way): closed by then, so that the process ends.
const open = new Set();
afterEach(() => {
  for (const close of open) close();
  open.clear();
});

/// What a client receives, in order, as it receives it.
function collect(directLine) {
  const seen = [];
  const subscription = directLine.activity$.subscribe({ next: (a) => seen.push(a) });
  const stop = () => {
    subscription.unsubscribe();
    directLine.end();
    open.delete(stop);
  };
  open.add(stop);
  return { seen, stop };
}

function post(directLine, activity) {
  return new Promise((done, fail) => {
    directLine.postActivity(activity).subscribe({ next: done, error: fail });
  });
}

/// Ada accepts the offer of `conversationId` (she is online in the demo) and answers it with `text`.
async function adaAnswers(conversationId, text) {
  const offer = await until('the offer to Ada', async () => {
    const offers = await server.api('GET', `/v1/agents/${ada.id}/offers`, undefined, ada.api_key);
    return offers.data.find((o) => o.conversation_id === conversationId);
  });
  await server.api('POST', `/v1/offers/${offer.id}/accept`, {}, ada.api_key);
  await server.api('POST', `/v1/conversations/${conversationId}/messages`, { text }, ada.api_key);
}

/// Ada ends and closes the conversation, which frees her capacity for the next test.
async function adaCloses(conversationId) {
  await server.api('POST', `/v1/conversations/${conversationId}/end`, {}, ada.api_key);
  await server.api('POST', `/v1/conversations/${conversationId}/close`, {}, ada.api_key);
}

const domain = () => `${server.base}/v3/directline`;
const texts = (seen) => seen.filter((a) => a.type === 'message').map((a) => a.text);

test('over the WebSocket: the client starts, writes, and receives the agent\'s answer; a reconnecting client loses nothing', async () => {
  const client = new DirectLine({ secret: server.demo.directline_secret, domain: domain() });
  const { seen, stop } = collect(client);
  const id = await post(client, { type: 'message', from: { id: 'web-user', name: 'Wendy' }, text: 'Hello over the socket' });
  const conversationId = client.conversationId;
  assert.ok(id.startsWith(`${conversationId}|`), id);
  assert.equal(client.connectionStatus$.getValue(), ConnectionStatus.Online);
  assert.ok(client.streamUrl.startsWith('ws://'), client.streamUrl);

  await adaAnswers(conversationId, 'Hi Wendy, Ada here');
  await until('the answer over the socket', async () => texts(seen).includes('Hi Wendy, Ada here'));
  const mine = seen.find((a) => a.text === 'Hello over the socket');
  assert.equal(mine.id, id);
  assert.equal(mine.from.id, 'web-user');
  const answer = seen.find((a) => a.text === 'Hi Wendy, Ada here');
  assert.equal(answer.from.role, 'bot');
  assert.equal(answer.from.name, 'Ada Agent');
  assert.equal(answer.replyToId, id);
  await post(client, { type: 'message', from: { id: 'web-user' }, text: 'Thanks' });
  await until('my second message echoed', async () => texts(seen).includes('Thanks'));
  const before = seen.filter((a) => a.type === 'message').map((a) => a.id);
  stop();

  // A new client with the conversation's token (from the secret, as a page would be handed one) and its id: it
  // reconnects with GET conversations/{id} and is sent the conversation from its start, every activity once.
  const token = await fetch(`${domain()}/conversations/${conversationId}`, {
    headers: { Authorization: `Bearer ${server.demo.directline_secret}` },
  }).then((r) => r.json());
  const again = new DirectLine({ token: token.token, conversationId, domain: domain() });
  const replay = collect(again);
  await until('the conversation replayed', async () => replay.seen.filter((a) => a.type === 'message').length >= before.length);
  await server.api('POST', `/v1/conversations/${conversationId}/messages`, { text: 'Anything else?' }, ada.api_key);
  await until('the live answer after the replay', async () => texts(replay.seen).includes('Anything else?'));
  const ids = replay.seen.filter((a) => a.type === 'message').map((a) => a.id);
  assert.deepEqual(ids.slice(0, before.length), before, 'the replay is what the first client saw, in order');
  assert.equal(new Set(ids).size, ids.length, 'no activity twice');
  assert.deepEqual([...ids].sort(), ids, 'in order');
  replay.stop();
  await adaCloses(conversationId);
});

test('by polling (webSocket: false): the client receives the agent\'s answer with the watermark', async () => {
  const client = new DirectLine({
    secret: server.demo.directline_secret, domain: domain(), webSocket: false, pollingInterval: 300,
  });
  const { seen, stop } = collect(client);
  await post(client, { type: 'message', from: { id: 'poll-user', name: 'Paul' }, text: 'Hello by polling' });
  await adaAnswers(client.conversationId, 'Hi Paul');
  await until('the answer by polling', async () => texts(seen).includes('Hi Paul'));
  await server.api('POST', `/v1/conversations/${client.conversationId}/messages`, { text: 'Still there?' }, ada.api_key);
  await until('a second answer', async () => texts(seen).includes('Still there?'));
  assert.deepEqual(texts(seen), ['Hello by polling', 'Hi Paul', 'Still there?'], 'every activity once, in order');
  assert.ok(Number(client.watermark) > 0, `watermark ${client.watermark}`);
  stop();
  await adaCloses(client.conversationId);
});
