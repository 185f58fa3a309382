// What every browser test stands on: one `switchboard serve --demo` on a free port with its own data directory,
// and one Debian chromium (never a downloaded browser) driven by playwright-core, shared by the tests of a file.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const BIN = process.env.SWITCHBOARD_BIN ?? join(ROOT, 'target/debug/switchboard');
const CHROMIUM = process.env.SWITCHBOARD_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS = join(ROOT, 'target/browser-artifacts');

function freePort() {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

/// Asks `check` every 100 ms until it answers something truthy (a failing check counts as not yet), and returns that;
/// fails after `seconds`.
export async function until(what, check, seconds = 30) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await check().catch(() => null);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/// A demo server: `base` URL, `demo` (its demo.json: agents, admin, supervisor with emails and passwords), and
/// `api(method, path, body, key)` to act as a program would (the admin's API key by default). `env` adds
/// `SWITCHBOARD_*` settings (a provider's base URL pointed at a local fake, say).
export async function startServer({ env = {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-browser-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const log = [];
  const child = spawn(BIN, ['serve', '--demo', '--listen', `127.0.0.1:${port}`, '--data-dir', join(dir, 'data')], {
    env: { ...process.env, SWITCHBOARD_LOG: process.env.SWITCHBOARD_LOG ?? 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (chunk) => log.push(chunk));
  child.stderr.on('data', (chunk) => log.push(chunk));
  let exited = false;
  child.once('exit', () => { exited = true; });
  const demo = await until('the demo server', async () => {
    if (exited) throw new Error(`switchboard exited:\n${Buffer.concat(log)}`);
    const health = await fetch(`${base}/healthz`);
    return health.ok && JSON.parse(readFileSync(join(dir, 'data/demo.json'), 'utf8'));
  }).catch((error) => {
    if (exited) throw new Error(`switchboard exited:\n${Buffer.concat(log)}`);
    throw error;
  });
  async function api(method, path, body, key = demo.admin_api_key) {
    const response = await fetch(base + path, {
      method,
      headers: { Authorization: `Bearer ${key}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }
  /// An access token of the demo's integration (client credentials), as a program starting conversations has.
  async function integrationToken() {
    const response = await fetch(`${base}/oauth2/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials', client_id: demo.client_id, client_secret: demo.client_secret,
      }),
    });
    if (!response.ok) throw new Error(`token: ${response.status} ${await response.text()}`);
    return (await response.json()).access_token;
  }
  async function stop() {
    if (!exited) {
      child.kill('SIGTERM');
      await until('switchboard to stop', async () => exited, 30);
    }
    rmSync(dir, { recursive: true, force: true });
  }
  return { base, demo, api, integrationToken, stop, log: () => Buffer.concat(log).toString() };
}

/// The server and the browser of the test file that called `shareServerAndBrowser` (each file runs in a process of
/// its own): live bindings, set once its `before` hook has run.
export let server;
export let browser;

/// One demo server and one chromium for all the tests of the calling file, started before them (then `ready`,
/// the file's own preparation, runs), stopped after.
export function shareServerAndBrowser(ready = async () => {}) {
  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    await ready();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });
}

/// One chromium for a file's tests; each test opens its own context (its own cookies).
export async function launchBrowser() {
  mkdirSync(ARTIFACTS, { recursive: true });
  // Containers (CI's among them) often give chromium no namespaces for its sandbox, and root may not use it; the
  // pages under test are our own.
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

/// Keeps a picture of the page as the test saw it (an artifact of the run, in target/browser-artifacts).
export async function screenshot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/// Signs in through the sign-in page as a person would.
export async function signIn(page, base, who, path = '/login') {
  await page.goto(base + path);
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}
