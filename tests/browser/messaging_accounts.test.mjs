// Messaging accounts as seed 002 sets them up: an administrator creates a custom (Bot Framework) account with the
// Microsoft app id and client secret, validates it (the server asks a token service: here a local one speaking
// Entra's client-credentials format), adds a channel bound to a workstream with its language and attachment
// permissions, and copies the channel's messaging endpoint URL for the bot registration.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { browser, screenshot, server, shareServerAndBrowser, signIn } from './harness.mjs';

const APP_ID = '3f1b0c52-9d4e-4a8b-9a51-0e7c2f1d4b6a';
const GOOD_SECRET = 'Xy8Q~good.secret.value';

/// The token service: a token for the app's good secret, Entra's `invalid_client` refusal for anything else.
const tokens = createServer((request, response) => {
  let body = '';
  request.on('data', (chunk) => { body += chunk; });
  request.on('end', () => {
    const form = new URLSearchParams(body);
    const good = form.get('grant_type') === 'client_credentials' && form.get('client_id') === APP_ID
      && form.get('client_secret') === GOOD_SECRET;
    response.writeHead(good ? 200 : 401, { 'Content-Type': 'application/json' });
    response.end(JSON.stringify(good
      ? { token_type: 'Bearer', expires_in: 3599, access_token: 'eyJ0' }
      : { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.' }));
  });
});
await new Promise((resolve) => tokens.listen(0, '127.0.0.1', resolve));
// The server the harness starts inherits this environment: its Bot Framework token service is the one above.
process.env.SWITCHBOARD_CHANNELS__BOT_FRAMEWORK__TOKEN_URL =
  `http://127.0.0.1:${tokens.address().port}/botframework.com/oauth2/v2.0/token`;

shareServerAndBrowser();

test.after(() => tokens.close());

test('an administrator creates a Bot Framework account, validates it, adds a channel and copies its endpoint URL', async () => {
  const workstream = await server.api('POST', '/v1/workstreams', { name: 'Bot support' });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.base });
  const page = await context.newPage();
  await signIn(page, server.base, server.demo.admin);
  await page.waitForURL(`${server.base}/admin`);
  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Messaging accounts' }).click();
  await page.getByRole('heading', { level: 2, name: 'Messaging accounts' }).waitFor();

  // A secret the token service refuses first: the account is made, and validation says why it is invalid.
  const create = page.getByRole('form', { name: 'New messaging account' });
  await create.getByLabel('Name').fill('Contoso bot');
  assert.equal(await create.getByLabel('Channel').inputValue(), 'bot_framework');
  assert.equal(await create.getByLabel('Method').inputValue(), 'azure_bot_framework');
  await create.getByLabel('Microsoft app id').fill(APP_ID);
  await create.getByLabel('Client secret').fill('wrong');
  await create.getByRole('button', { name: 'Create' }).click();
  const accounts = page.getByRole('table', { name: 'Messaging accounts' });
  const row = accounts.getByRole('row').filter({ hasText: 'Contoso bot' });
  await row.getByText('Not validated').waitFor();
  await row.getByRole('button', { name: 'Validate Contoso bot' }).click();
  await row.getByText(/Invalid: .*AADSTS7000215/).first().waitFor();

  // The right secret, set through the API as a script would: now it validates.
  const [account] = (await server.api('GET', '/v1/messaging-accounts?limit=100')).data.filter((a) => a.name === 'Contoso bot');
  assert.equal(account.credentials_set, true);
  assert.equal(JSON.stringify(account).includes('wrong'), false, 'the secret is never read back');
  await server.api('PATCH', `/v1/messaging-accounts/${account.id}`, { credentials: { client_secret: GOOD_SECRET } });
  await row.getByRole('button', { name: 'Validate Contoso bot' }).click();
  await row.getByText(/^Valid \(checked/).first().waitFor();

  // A channel on the account: bound to the workstream, in French, customers may not send files.
  const add = page.getByRole('form', { name: 'Add a channel' });
  await add.getByLabel('Name').fill('Teams');
  await add.getByLabel('Workstream').selectOption(workstream.id);
  await add.getByLabel('Language').fill('fr-fr');
  await add.getByLabel('Customers may send attachments').uncheck();
  await add.getByRole('button', { name: 'Add' }).click();
  const channels = page.getByRole('table', { name: 'Channels of Contoso bot' });
  const channelRow = channels.getByRole('row').filter({ hasText: 'Teams' });
  await channelRow.getByText('fr-FR').waitFor();
  const [channel] = (await server.api('GET', `/v1/messaging-accounts/${account.id}/channels`)).data;
  assert.equal(channel.workstream_id, workstream.id);
  assert.deepEqual(channel.attachments, { customers: false, agents: true });
  const endpoint = `${server.base}/channels/bot-framework/${channel.id}/messages`;
  assert.equal(channel.messaging_endpoint_url, endpoint);
  await channelRow.getByText(endpoint).waitFor();
  await channelRow.getByRole('button', { name: 'Copy Teams: Messaging endpoint URL' }).click();
  await channelRow.getByRole('status').getByText('Copied').waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), endpoint);
  await screenshot(page, 'admin-messaging-accounts');

  // A language that is not BCP 47: the API's words next to the field, and nothing added.
  await add.getByLabel('Name').fill('Broken');
  await add.getByLabel('Workstream').selectOption(workstream.id);
  await add.getByLabel('Language').fill('english');
  await add.getByRole('button', { name: 'Add' }).click();
  const language = add.getByLabel('Language');
  await page.waitForFunction(() => document.querySelector('[aria-invalid=true]'));
  assert.equal(await language.getAttribute('aria-invalid'), 'true');
  const after = await server.api('GET', `/v1/messaging-accounts/${account.id}/channels`);
  assert.equal(after.data.length, 1);
  await context.close();
});
