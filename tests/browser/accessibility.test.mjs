// Each page as people with other needs meet it: axe-core's WCAG 2.1 A and AA rules (labels, roles, names,
// contrast) find nothing, at a desktop's width and at a phone's 360 px, where nothing scrolls sideways.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { browser, screenshot, server, shareServerAndBrowser, signIn } from './harness.mjs';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

shareServerAndBrowser();

/// axe's WCAG A/AA violations on the page as it is now, each with the elements it found.
async function violations(page) {
  await page.addScriptTag({ path: AXE });
  const found = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const result = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
  });
  return found;
}

for (const width of [1280, 360]) {
  test(`sign-in and the agent desktop with a conversation open meet WCAG AA at ${width} px`, async () => {
    // The pages' policy refuses injected scripts, axe's among them; the test's own context lifts it.
    const context = await browser.newContext({ bypassCSP: true, viewport: { width, height: 800 } });
    const page = await context.newPage();
    await page.goto(`${server.base}/login`);
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    assert.deepEqual(await violations(page), []);

    await signIn(page, server.base, server.demo.agents[0]);
    await page.waitForURL(`${server.base}/agent`);
    await page.getByRole('status').getByText('Live').waitFor();
    const token = await server.integrationToken();
    const subject = `Help at ${width}`;
    await server.api('POST', '/v1/conversations', {
      channel_id: server.demo.channel_id, subject, start_message: { text: 'hello' },
    }, token);
    const offer = page.getByRole('listitem', { name: `Offer: ${subject}` });
    await offer.waitFor();
    assert.deepEqual(await violations(page), [], 'with an offer showing');
    await offer.getByRole('button', { name: 'Accept' }).click();
    await page.getByRole('button', { name: subject }).click();
    await page.getByRole('log', { name: 'Transcript' }).getByText('hello').waitFor();
    assert.deepEqual(await violations(page), [], 'with a conversation open');
    const sideways = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.equal(sideways, 0, 'nothing scrolls sideways');
    await screenshot(page, `agent-desktop-${width}px`);
    await context.close();
  });
}

const ADMIN_SECTIONS = ['channels', 'workstreams', 'queues', 'presences', 'profiles', 'users', 'quick_replies', 'access', 'webhooks'];

for (const width of [1280, 360]) {
  test(`every section of the admin pages meets WCAG AA at ${width} px`, async () => {
    const context = await browser.newContext({ bypassCSP: true, viewport: { width, height: 800 } });
    const page = await context.newPage();
    await signIn(page, server.base, server.demo.admin);
    await page.waitForURL(`${server.base}/admin`);
    for (const section of ADMIN_SECTIONS) {
      await page.goto(`${server.base}/admin?section=${section}`);
      await page.getByRole('heading', { level: 3 }).first().waitFor();
      const loaded = () => page.waitForFunction(() => !document.getElementById('page').innerText.includes('Loading…'));
      await loaded();
      if (section === 'queues') {
        // With a queue's settings open: members, hours with an interval, overflow, its conversations.
        await page.getByRole('button', { name: 'Settings of General' }).click();
        await page.getByLabel('Always open').uncheck();
        await page.getByRole('button', { name: 'Add hours on Monday' }).click();
        await page.getByRole('button', { name: 'Add an overflow rule' }).click();
        await loaded();
      }
      assert.deepEqual(await violations(page), [], `section ${section}`);
      const sideways = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.equal(sideways, 0, `nothing scrolls sideways in section ${section}`);
    }
    await screenshot(page, `admin-queue-${width}px`);
    await context.close();
  });
}

for (const width of [1280, 360]) {
  test(`the supervisor dashboard with a conversation watched meets WCAG AA at ${width} px`, async () => {
    const context = await browser.newContext({ bypassCSP: true, viewport: { width, height: 800 } });
    const page = await context.newPage();
    await signIn(page, server.base, server.demo.supervisor);
    await page.waitForURL(`${server.base}/supervisor`);
    await page.getByRole('status').getByText('Live').waitFor();
    const token = await server.integrationToken();
    const subject = `Waiting at ${width}`;
    await server.api('POST', '/v1/conversations', {
      channel_id: server.demo.channel_id, subject, start_message: { text: 'hello' },
    }, token);
    const tile = page.getByRole('region', { name: 'General' });
    await tile.getByRole('button', { name: 'Conversations of General' }).click();
    await page.getByRole('button', { name: subject }).click();
    await page.getByRole('log', { name: 'Transcript' }).getByText('hello').waitFor();
    await page.getByRole('img', { name: 'Conversations per 15 minutes' }).waitFor();
    assert.deepEqual(await violations(page), []);
    const sideways = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.equal(sideways, 0, 'nothing scrolls sideways');
    await screenshot(page, `supervisor-${width}px`);
    await context.close();
  });
}
