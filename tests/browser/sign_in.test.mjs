// Signing in, the pages each role may open, signing out, and a session that ends while a page is open.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { browser, screenshot, server, shareServerAndBrowser, signIn } from './harness.mjs';

shareServerAndBrowser();

async function fresh() {
  const context = await browser.newContext();
  return { context, page: await context.newPage() };
}

test('an agent signs in and lands on the agent desktop, with only the pages an agent may open', async () => {
  const { context, page } = await fresh();
  const ada = server.demo.agents[0];
  await signIn(page, server.base, ada);
  await page.waitForURL(`${server.base}/agent`);
  const nav = page.getByRole('navigation', { name: 'Pages' });
  await nav.getByRole('link', { name: 'Agent desktop' }).waitFor();
  assert.equal(await nav.getByRole('link', { name: 'Administration' }).count(), 0);
  assert.equal(await nav.getByRole('link', { name: 'Dashboard' }).count(), 0);
  await page.getByText(`${ada.name}, agent`).waitFor();
  await page.getByRole('heading', { name: 'Offers' }).waitFor();
  await screenshot(page, 'agent-desktop');
  await context.close();
});

test('a wrong password is refused with the server\'s words, and no session starts', async () => {
  const { context, page } = await fresh();
  await signIn(page, server.base, { email: server.demo.agents[0].email, password: 'not the password at all' });
  const alert = page.getByRole('alert');
  await alert.waitFor();
  assert.match(await alert.innerText(), /password/i);
  assert.equal(new URL(page.url()).pathname, '/login');
  const cookies = await context.cookies();
  assert.equal(cookies.filter((c) => c.name === 'switchboard_session').length, 0);
  await screenshot(page, 'sign-in-refused');
  await context.close();
});

test('a page opened before signing in is where sign-in returns to', async () => {
  const { context, page } = await fresh();
  await page.goto(`${server.base}/supervisor`);
  await page.waitForURL(/\/login\?next=%2Fsupervisor/);
  await page.getByLabel('Email').fill(server.demo.supervisor.email);
  await page.getByLabel('Password').fill(server.demo.supervisor.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${server.base}/supervisor`);
  const nav = page.getByRole('navigation', { name: 'Pages' });
  await nav.getByRole('link', { name: 'Dashboard' }).waitFor();
  assert.equal(await nav.getByRole('link', { name: 'Administration' }).count(), 0);
  await context.close();
});

test('an agent who opens the administration pages is told they are not theirs', async () => {
  const { context, page } = await fresh();
  await signIn(page, server.base, server.demo.agents[0], '/login?next=/admin');
  await page.waitForURL(`${server.base}/admin`);
  assert.match(await page.getByRole('alert').innerText(), /not for your role \(agent\)/);
  await context.close();
});

test('the administrator lands on the administration pages and may open the dashboard', async () => {
  const { context, page } = await fresh();
  await signIn(page, server.base, server.demo.admin);
  await page.waitForURL(`${server.base}/admin`);
  const nav = page.getByRole('navigation', { name: 'Pages' });
  await nav.getByRole('link', { name: 'Dashboard' }).click();
  await page.waitForURL(`${server.base}/supervisor`);
  await context.close();
});

test('signing out ends the session: the pages ask to sign in again', async () => {
  const { context, page } = await fresh();
  await signIn(page, server.base, server.demo.agents[0]);
  await page.waitForURL(`${server.base}/agent`);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/login\?reason=signed_out/);
  await page.getByRole('status').getByText('You are signed out.').waitFor();
  await page.goto(`${server.base}/agent`);
  await page.waitForURL(/\/login\?next=%2Fagent/);
  await context.close();
});

test('a session revoked while the page is open: the next action says so, and signing in again returns there', async () => {
  const { context, page } = await fresh();
  const ada = server.demo.agents[0];
  await signIn(page, server.base, ada);
  await page.waitForURL(`${server.base}/agent`);
  const presence = page.getByLabel('Presence');
  await page.getByRole('option', { name: 'Available' }).first().waitFor({ state: 'attached' });

  const sessions = await server.api('GET', '/v1/sessions?limit=100');
  const hers = sessions.data.filter((s) => s.user_id === ada.id);
  assert.ok(hers.length >= 1);
  for (const s of hers) await server.api('DELETE', `/v1/sessions/${s.id}`);

  await presence.selectOption({ label: 'Away' });
  const dialog = page.getByRole('alertdialog');
  await dialog.getByText('Your session has ended.').waitFor();
  await screenshot(page, 'session-ended');
  await dialog.getByRole('link', { name: 'Sign in again' }).click();
  await page.waitForURL(/\/login\?next=%2Fagent&reason=expired/);
  await page.getByRole('status').getByText('Your session has ended. Sign in again to go on.').waitFor();
  await page.getByLabel('Email').fill(ada.email);
  await page.getByLabel('Password').fill(ada.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${server.base}/agent`);
  // The refused change changed nothing, and the page does not pretend it did.
  await page.getByRole('option', { name: 'Available' }).first().waitFor({ state: 'attached' });
  assert.equal(await page.getByLabel('Presence').inputValue(), 'available');
  const mine = await server.api('GET', `/v1/agents/${ada.id}/presence`);
  assert.equal(mine.presence, 'available');
  await context.close();
});

test('markup in a name is shown as text and never runs', async () => {
  const name = '<img src=x onerror="window.pwned=1">Eve';
  const user = await server.api('POST', '/v1/users', { name, email: 'eve@example.com', role: 'agent' });
  const { token } = await server.api('POST', `/v1/users/${user.id}/password-token`);
  const password = 'a long enough password';
  const set = await fetch(`${server.base}/v1/password`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ token, password }),
  });
  assert.equal(set.status, 204);
  const { context, page } = await fresh();
  await signIn(page, server.base, { email: 'eve@example.com', password });
  await page.waitForURL(`${server.base}/agent`);
  await page.getByText(`${name}, agent`).waitFor();
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  assert.equal(await page.locator('img').count(), 0);
  await context.close();
});
