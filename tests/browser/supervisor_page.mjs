// What the dashboard's browser test and its load figure share: customers starting conversations, the supervisor
// signed in on the dashboard, and what a tile shows.
import { server, signIn } from './harness.mjs';

let token;

/// The demo integration's token, fetched once the server is up.
export async function ready() {
  token = await server.integrationToken();
}

export function integration() {
  return token;
}

export function customerWrites(subject) {
  return server.api('POST', '/v1/conversations', {
    channel_id: server.demo.channel_id, subject, start_message: { text: `hello from ${subject}` },
  }, token);
}

export async function setPresence(agent, presence) {
  await server.api('PUT', `/v1/agents/${agent.id}/presence`, { presence }, agent.api_key);
}

/// The number a tile shows under `label`, once it is `value`.
export async function tileShows(tile, label, value) {
  await tile.locator(`dt:text-is("${label}") + dd`).filter({ hasText: new RegExp(`^${value}$`) }).waitFor();
}

export async function openDashboard(context) {
  const page = await context.newPage();
  await signIn(page, server.base, server.demo.supervisor);
  await page.waitForURL(`${server.base}/supervisor`);
  await page.getByRole('status').getByText('Live').waitFor();
  return page;
}

/// Runs `work` on `items`, `width` at a time.
export async function inParallel(items, width, work) {
  const queue = [...items];
  await Promise.all(Array.from({ length: width }, async () => {
    while (queue.length) await work(queue.shift());
  }));
}
