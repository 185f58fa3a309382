// The admin pages: an administrator creates a queue (its members and operating hours, the API's refusal of bad
// hours shown next to the field), routes a context value to it with a rule on the demo's workstream, and a new
// conversation with that value lands in it; markup typed into a name is shown as text; a channel's address copies.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { browser, screenshot, server, shareServerAndBrowser, signIn, until } from './harness.mjs';

shareServerAndBrowser();

const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];

async function adminPage(permissions = []) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  if (permissions.length) await context.grantPermissions(permissions, { origin: server.base });
  const page = await context.newPage();
  await signIn(page, server.base, server.demo.admin);
  await page.waitForURL(`${server.base}/admin`);
  return { context, page };
}

async function section(page, name) {
  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name }).click();
  await page.getByRole('heading', { level: 2, name }).waitFor();
}

/// The conversation as the API has it once routing has queued it (a new conversation holds its workstream's
/// fallback queue until routing has run its rules: `routing.queued` says where they sent it).
async function queued(id) {
  await until(`conversation ${id} queued`, async () => {
    const timeline = await server.api('GET', `/v1/conversations/${id}/timeline`);
    return timeline.data.some((e) => e.type === 'routing.queued');
  }, 10);
  return server.api('GET', `/v1/conversations/${id}`);
}

test('an administrator creates a queue, a routing rule that sends a context value there, and a new chat lands in it', async () => {
  const { context, page } = await adminPage();
  const name = 'Billing <img src=x onerror="window.pwned=1"> & co';
  await section(page, 'Queues');
  const create = page.getByRole('form', { name: 'New queue' });
  await create.getByLabel('Name').fill(name);
  await create.getByRole('button', { name: 'Create' }).click();

  // The name is text in the list, not markup.
  const queues = page.getByRole('table', { name: 'Queues' });
  await queues.getByRole('rowheader', { name, exact: true }).waitFor();
  assert.equal(await queues.locator('img').count(), 0, 'no element was made from the name');
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  const queue = (await server.api('GET', '/v1/queues?limit=100')).data.find((q) => q.name === name);
  assert.ok(queue, 'the queue was created with the name as typed');

  // Its settings open: Bo serves it.
  await page.getByRole('heading', { name: `Queue ${name}` }).waitFor();
  const members = page.getByRole('form', { name: 'Members' });
  const bo = server.demo.agents[1];
  await members.getByLabel(bo.name).check();
  await members.getByRole('button', { name: 'Save members' }).click();
  await members.getByRole('status').getByText('Saved.').waitFor();
  const saved = await server.api('GET', `/v1/queues/${queue.id}/members`);
  assert.deepEqual(saved.data.map((m) => m.user_id), [bo.id]);

  // Hours that end before they start: the API refuses them, and its words are next to the interval.
  const hours = page.getByRole('form', { name: 'Assignment and operating hours' });
  await hours.getByLabel('Always open').uncheck();
  await hours.getByLabel('Time zone').fill('UTC');
  await hours.getByRole('button', { name: 'Add hours on Monday' }).click();
  const monday = hours.getByRole('group', { name: 'Monday' });
  await monday.getByLabel('Opens').fill('17:00');
  await monday.getByLabel('Closes').fill('09:00');
  await hours.getByRole('button', { name: 'Save assignment and hours' }).click();
  const opens = monday.getByLabel('Opens');
  await page.waitForFunction(() => document.querySelector('[aria-invalid=true]'));
  assert.equal(await opens.getAttribute('aria-invalid'), 'true');
  const described = await opens.getAttribute('aria-describedby');
  const error = page.locator(`[id="${described.split(' ')[0]}"]`);
  assert.match(await error.innerText(), /monday\[0\].*ends before it starts/);
  await screenshot(page, 'admin-hours-refused');
  const unchanged = await server.api('GET', `/v1/queues/${queue.id}/routing`);
  assert.equal(unchanged.routing.calendar, undefined, 'nothing refused was saved');

  // Fixed: open around the clock, every day, so that the conversation below finds the queue open.
  await monday.getByLabel('Opens').fill('00:00');
  await monday.getByLabel('Closes').fill('24:00');
  for (const day of DAYS.slice(1)) {
    await hours.getByRole('button', { name: `Add hours on ${day}` }).click();
    const group = hours.getByRole('group', { name: day });
    await group.getByLabel('Opens').fill('00:00');
    await group.getByLabel('Closes').fill('24:00');
  }
  await hours.getByRole('button', { name: 'Save assignment and hours' }).click();
  await hours.getByRole('status').getByText('Saved.').waitFor();
  assert.equal(await page.locator('[aria-invalid=true]').count(), 0, 'the error is gone');
  const routing = await server.api('GET', `/v1/queues/${queue.id}/routing`);
  assert.deepEqual(routing.routing.calendar.weekly.monday, [{ start: '00:00', end: '24:00' }]);
  assert.equal(routing.routing.calendar.time_zone, 'UTC');

  // A rule on the demo's workstream: topic "billing" goes to the new queue.
  await section(page, 'Workstreams and routing rules');
  await page.getByRole('button', { name: 'Edit Messaging' }).click();
  const rules = page.getByRole('form', { name: 'Routing rules of Messaging' });
  await rules.getByRole('button', { name: 'Add a variable' }).click();
  await rules.getByRole('group', { name: 'Variable 1' }).getByLabel('Variable name').fill('topic');
  await rules.getByRole('button', { name: 'Add a rule' }).click();
  const rule = rules.getByRole('group', { name: 'Rule 1' });
  await rule.getByLabel('Rule name').fill('Billing questions');
  // A condition naming an undeclared variable is refused, next to the condition.
  await rule.getByLabel('Condition').fill('context.product == "router"');
  await rule.getByLabel('Queue').selectOption({ label: name });
  await rules.getByRole('button', { name: 'Save rules' }).click();
  await page.waitForFunction(() => document.querySelector('[aria-invalid=true]'));
  assert.equal(await rule.getByLabel('Condition').getAttribute('aria-invalid'), 'true');
  await rule.getByLabel('Condition').fill('context.topic == "billing"');
  await rules.getByRole('button', { name: 'Save rules' }).click();
  await rules.getByRole('status').getByText('Saved.').waitFor();
  await screenshot(page, 'admin-rules');

  // A customer asks about billing: the conversation lands in the new queue.
  const token = await server.integrationToken();
  const created = await server.api('POST', '/v1/conversations', {
    channel_id: server.demo.channel_id, subject: 'Invoice twice', context: { topic: { value: 'billing' } },
    start_message: { text: 'I was charged twice' },
  }, token);
  const conversation = await queued(created.conversation.id);
  assert.equal(conversation.queue_id, queue.id);
  const other = await server.api('POST', '/v1/conversations', {
    channel_id: server.demo.channel_id, subject: 'Router broken', context: { topic: { value: 'hardware' } },
  }, token);
  assert.equal((await queued(other.conversation.id)).queue_id, server.demo.queue_id, 'other topics: the fallback');

  // And the queue's page shows it.
  await section(page, 'Queues');
  await page.getByRole('button', { name: `Settings of ${name}` }).click();
  const waiting = page.getByRole('table', { name: `Conversations in ${name}` });
  await waiting.getByRole('rowheader', { name: 'Invoice twice' }).waitFor();
  assert.equal(await waiting.getByText('Router broken').count(), 0);
  await context.close();
});

test('a channel shows where its messages come in, and the address copies', async () => {
  const { context, page } = await adminPage(['clipboard-read', 'clipboard-write']);
  await section(page, 'Channels');
  const url = `${server.base}/api/v1.0/consumer`;
  const row = page.getByRole('table', { name: 'Channels' }).getByRole('row', { name: /Demo channel/ });
  await row.getByText(url).waitFor();
  await row.getByRole('button', { name: 'Copy Demo channel: Messaging API base URL' }).click();
  await row.getByRole('status').getByText('Copied').waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), url);

  // A bad webhook URL is refused with the field named, next to that field.
  await row.getByRole('button', { name: 'Edit Demo channel' }).click();
  const edit = page.getByRole('form', { name: 'Edit Demo channel' });
  await edit.getByLabel(/Webhook URL/).fill('ftp://example.invalid/hook');
  await edit.getByRole('button', { name: 'Save' }).click();
  await page.waitForFunction(() => document.querySelector('[aria-invalid=true]'));
  assert.equal(await edit.getByLabel(/Webhook URL/).getAttribute('aria-invalid'), 'true');
  await context.close();
});

test('each section shows, and the address keeps the section across reload and back', async () => {
  const { context, page } = await adminPage();
  const sections = [
    ['Channels', 'channels'], ['Workstreams and routing rules', 'workstreams'], ['Queues', 'queues'],
    ['Presences', 'presences'], ['Capacity profiles', 'profiles'], ['Users and agents', 'users'],
    ['Quick replies', 'quick_replies'], ['API keys and clients', 'access'], ['Webhooks', 'webhooks'],
  ];
  for (const [name, key] of sections) {
    await section(page, name);
    assert.equal(new URL(page.url()).searchParams.get('section'), key);
    await page.getByRole('heading', { level: 3 }).first().waitFor();
    await screenshot(page, `admin-${key}`);
  }
  await page.reload();
  await page.getByRole('heading', { level: 2, name: 'Webhooks' }).waitFor();
  await page.goBack();
  await page.getByRole('heading', { level: 2, name: 'API keys and clients' }).waitFor();

  // Secrets are shown once, with their copy button: a new API key.
  await section(page, 'API keys and clients');
  const form = page.getByRole('form', { name: 'New API key' });
  await form.getByLabel('Name').fill('Reporting');
  await form.getByRole('button', { name: 'Create' }).click();
  const secret = form.getByRole('group', { name: 'The new API key' });
  assert.match(await secret.locator('code').innerText(), /^sbk_/);
  await page.getByRole('table', { name: 'API keys' }).getByRole('rowheader', { name: 'Reporting' }).waitFor();

  // An agent's skills, as routing reads them.
  await section(page, 'Users and agents');
  const bo = server.demo.agents[1];
  await page.getByRole('button', { name: `Settings of ${bo.name}` }).click();
  const skills = page.getByRole('form', { name: 'Capacity, skills and attributes' });
  await skills.getByRole('button', { name: 'Add a skill' }).click();
  await skills.getByRole('group', { name: 'Skill 1' }).getByLabel('Skill').fill('Billing');
  await skills.getByRole('group', { name: 'Skill 1' }).getByLabel(/Proficiency/).fill('11');
  await skills.getByRole('button', { name: 'Save capacity, skills and attributes' }).click();
  await page.waitForFunction(() => document.querySelector('[aria-invalid=true]'));
  assert.equal(await skills.getByLabel(/Proficiency/).getAttribute('aria-invalid'), 'true');
  await skills.getByLabel(/Proficiency/).fill('7');
  await skills.getByRole('button', { name: 'Save capacity, skills and attributes' }).click();
  await skills.getByRole('status').getByText('Saved.').waitFor();
  let routing = await server.api('GET', `/v1/agents/${bo.id}/routing`);
  assert.deepEqual(routing.skills, [{ name: 'Billing', proficiency: 7 }]);

  // Attributes, typed: a name that is not one is refused next to it.
  await skills.getByRole('button', { name: 'Add an attribute' }).click();
  const attribute = skills.getByRole('group', { name: 'Attribute 1' });
  await attribute.getByLabel('Attribute').fill('Sen iority!');
  await attribute.getByLabel('Type').selectOption({ label: 'Number' });
  await attribute.getByLabel('Value').fill('3');
  await skills.getByRole('button', { name: 'Save capacity, skills and attributes' }).click();
  await page.waitForFunction(() => document.querySelector('[aria-invalid=true]'));
  assert.equal(await attribute.getByLabel('Attribute').getAttribute('aria-invalid'), 'true');
  await attribute.getByLabel('Attribute').fill('Seniority');
  await skills.getByRole('button', { name: 'Save capacity, skills and attributes' }).click();
  await skills.getByRole('status').getByText('Saved.').waitFor();
  routing = await server.api('GET', `/v1/agents/${bo.id}/routing`);
  assert.deepEqual(routing.attributes, { Seniority: 3 });
  await context.close();
});

test('a webhook subscription: its secret shown once, its delivery log with attempts, and a replay', async () => {
  const { context, page } = await adminPage();
  await section(page, 'Webhooks');
  const create = page.getByRole('form', { name: 'New subscription' });
  // Loopback receivers are refused by the delivery guard: the attempts fail, which is what the log is for.
  const url = 'http://127.0.0.1:9/hooks';
  await create.getByLabel('URL').fill('not a url');
  await create.getByRole('button', { name: 'Create' }).click();
  await page.waitForFunction(() => document.querySelector('[aria-invalid=true]'));
  assert.equal(await create.getByLabel('URL').getAttribute('aria-invalid'), 'true');
  await create.getByLabel('URL').fill(url);
  await create.getByLabel('Event types').fill('conversation.created');
  await create.getByRole('button', { name: 'Create' }).click();
  const secret = create.getByRole('group', { name: 'The signing secret' });
  assert.match(await secret.locator('code').innerText(), /^whsec_/);
  await page.getByRole('table', { name: 'Webhook subscriptions' }).getByRole('rowheader', { name: url }).waitFor();

  const token = await server.integrationToken();
  await server.api('POST', '/v1/conversations', { channel_id: server.demo.channel_id, subject: 'Hooked' }, token);
  const [subscription] = (await server.api('GET', '/v1/webhook-subscriptions')).data;
  const delivery = await until('a delivery attempted', async () => {
    const log = await server.api('GET', `/v1/webhook-deliveries?subscription_id=${subscription.id}`);
    return log.data.find((d) => d.attempts > 0);
  }, 10);

  await page.getByRole('button', { name: `Settings of ${url}` }).click();
  const log = page.getByRole('table', { name: `Deliveries to ${url}` });
  await log.getByRole('rowheader', { name: `conversation.created #${delivery.event_id}` }).waitFor();
  await log.getByRole('button', { name: `Attempts of event ${delivery.event_id}` }).click();
  const attempts = page.getByRole('table', { name: `Attempts of conversation.created #${delivery.event_id}` });
  await attempts.getByRole('rowheader', { name: '1', exact: true }).waitFor();
  await log.getByRole('button', { name: `Replay event ${delivery.event_id}` }).click();
  await page.getByRole('status').getByText('The delivery will be sent again.').waitFor();
  // A range: everything of the last day, delivered or not.
  const range = page.getByRole('form', { name: 'Send deliveries again' });
  await range.getByLabel(/Also those delivered/).check();
  await range.getByRole('button', { name: 'Replay', exact: true }).click();
  await range.getByRole('status').getByText(/^\d+ deliveries will be sent again\.$/).waitFor();

  await page.getByRole('button', { name: 'Rotate the secret' }).click();
  const rotated = page.getByRole('region', { name: `Subscription ${url}` }).getByRole('group', { name: 'The signing secret' });
  assert.match(await rotated.locator('code').innerText(), /^whsec_/);
  assert.notEqual(await rotated.locator('code').innerText(), await secret.locator('code').innerText());
  await screenshot(page, 'admin-webhook');
  await context.close();
});

test('a session that ends while a form is filled: submitting says so and changes nothing', async () => {
  const { context, page } = await adminPage();
  await section(page, 'Queues');
  const create = page.getByRole('form', { name: 'New queue' });
  await create.getByLabel('Name').fill('Never made');
  const sessions = await server.api('GET', '/v1/sessions?limit=100');
  for (const s of sessions.data.filter((s) => s.user_id === server.demo.admin.id)) {
    await server.api('DELETE', `/v1/sessions/${s.id}`);
  }
  await create.getByRole('button', { name: 'Create' }).click();
  await page.getByRole('alertdialog').getByText('Your session has ended.').waitFor();
  const queues = (await server.api('GET', '/v1/queues?limit=100')).data;
  assert.ok(!queues.some((q) => q.name === 'Never made'));
  await context.close();
});

test('presences and capacity profiles: created, refused with the field, changed and deleted', async () => {
  const { context, page } = await adminPage();
  page.on('dialog', (dialog) => dialog.accept());
  await section(page, 'Presences');
  const create = page.getByRole('form', { name: 'New presence' });
  await create.getByLabel('Name').fill('Training');
  await create.getByLabel('Routed as').selectOption({ label: 'Away' });
  await create.getByRole('button', { name: 'Create' }).click();
  const presences = page.getByRole('table', { name: 'Presences' });
  await presences.getByRole('rowheader', { name: 'Training' }).waitFor();
  // A second one of the same name is refused next to the name.
  await create.getByLabel('Name').fill('training');
  await create.getByRole('button', { name: 'Create' }).click();
  await page.waitForFunction(() => document.querySelector('[aria-invalid=true]'));
  assert.equal(await create.getByLabel('Name').getAttribute('aria-invalid'), 'true');
  await presences.getByRole('button', { name: 'Delete Training' }).click();
  await presences.getByRole('rowheader', { name: 'Training' }).waitFor({ state: 'detached' });

  await section(page, 'Capacity profiles');
  const profile = page.getByRole('form', { name: 'New capacity profile' });
  await profile.getByLabel('Name').fill('Chat');
  await profile.getByLabel('Conversations at once').fill('3');
  await profile.getByLabel('Capacity comes back').selectOption({ label: 'Every period' });
  await profile.getByLabel('Period in minutes').fill('7');
  await profile.getByRole('button', { name: 'Create' }).click();
  await page.waitForFunction(() => document.querySelector('[aria-invalid=true]'));
  assert.equal(await profile.getByLabel('Period in minutes').getAttribute('aria-invalid'), 'true');
  await profile.getByLabel('Period in minutes').fill('60');
  await profile.getByRole('button', { name: 'Create' }).click();
  const profiles = page.getByRole('table', { name: 'Capacity profiles' });
  await profiles.getByRole('rowheader', { name: 'Chat' }).waitFor();
  assert.match(await profiles.getByRole('row', { name: /Chat/ }).innerText(), /Every 60 min \(UTC\)/);
  await profiles.getByRole('button', { name: 'Delete Chat' }).click();
  await page.getByText('None yet.').waitFor();
  await context.close();
});

test('quick replies: created (markup kept as text), a taken title refused next to it, changed and deleted', async () => {
  const { context, page } = await adminPage();
  page.on('dialog', (dialog) => dialog.accept());
  await section(page, 'Quick replies');
  const create = page.getByRole('form', { name: 'New quick reply' });
  await create.getByLabel('Title').fill('Returns');
  await create.getByLabel('Text', { exact: true }).fill('Send it back within <b>30 days</b>.');
  await create.getByRole('button', { name: 'Create' }).click();
  const replies = page.getByRole('table', { name: 'Quick replies' });
  await replies.getByRole('rowheader', { name: 'Returns' }).waitFor();
  await replies.getByText('Send it back within <b>30 days</b>.').waitFor();
  await create.getByLabel('Title').fill('RETURNS');
  await create.getByLabel('Text', { exact: true }).fill('again');
  await create.getByRole('button', { name: 'Create' }).click();
  await page.waitForFunction(() => document.querySelector('[aria-invalid=true]'));
  assert.equal(await create.getByLabel('Title').getAttribute('aria-invalid'), 'true');
  await replies.getByRole('button', { name: 'Edit Returns' }).click();
  const edit = page.getByRole('form', { name: 'Edit Returns' });
  await edit.getByLabel('Text', { exact: true }).fill('Send it back within 60 days.');
  await edit.getByRole('button', { name: 'Save' }).click();
  await replies.getByText('Send it back within 60 days.').waitFor();
  await screenshot(page, 'admin-quick-replies');
  const saved = (await server.api('GET', '/v1/quick-replies')).data;
  assert.deepEqual(saved.map((q) => [q.title, q.text]), [['Returns', 'Send it back within 60 days.']]);
  await replies.getByRole('button', { name: 'Delete Returns' }).click();
  await replies.getByRole('rowheader', { name: 'Returns' }).waitFor({ state: 'detached' });
  await context.close();
});

test('a live chat channel: the sites that may embed it and its questions, a bad origin refused next to its field', async () => {
  const { context, page } = await adminPage();
  await section(page, 'Channels');
  await page.getByRole('table', { name: 'Channels' }).getByRole('button', { name: 'Edit Demo chat' }).click();
  const edit = page.getByRole('form', { name: 'Edit Demo chat' });
  const origins = edit.getByLabel('Sites that may embed the chat');
  const questions = edit.getByLabel('Questions before the chat');
  assert.match(await questions.inputValue(), /^name \| .+ \| required$/m);
  await origins.fill('https://shop.example.com/checkout');
  await edit.getByRole('button', { name: 'Save' }).click();
  await page.waitForFunction(() => document.querySelector('[aria-invalid=true]'));
  assert.equal(await origins.getAttribute('aria-invalid'), 'true');

  await origins.fill('https://shop.example.com\nhttp://localhost:8081');
  await questions.fill(`${await questions.inputValue()}\nplan | Your plan | required`);
  await edit.getByRole('button', { name: 'Save' }).click();
  await edit.waitFor({ state: 'detached' });
  const channel = await server.api('GET', `/v1/channels/${server.demo.chat_channel_id}`);
  assert.deepEqual(channel.settings.allowed_origins, ['https://shop.example.com', 'http://localhost:8081']);
  assert.deepEqual(channel.settings.pre_chat_fields.at(-1), { key: 'plan', label: 'Your plan', required: true });
  await context.close();
});
