// The start of every page: find out who is signed in, then show the page for the path, or send the browser to
// sign in.
import { api, useSession } from './api.js';
import { Shell, homeOf, signInUrl } from './shell.js';
import { t } from './text.js';
import { html, render } from './view.js';

async function start(root) {
  if (location.pathname === '/login') {
    const { LoginPage } = await import('./login.js');
    render(html`<${LoginPage} />`, root);
    return;
  }
  let session;
  try {
    session = await api('GET', '/v1/sessions/current');
  } catch (error) {
    if (error.status === 401 || error.status === 404) {
      location.replace(signInUrl());
      return;
    }
    const message = error.status === 0 ? t('app.unreachable') : t('app.failed', { detail: error.message });
    render(html`<p role="alert" class="error">${message}</p>`, root);
    return;
  }
  useSession(session);
  const home = homeOf(session.role);
  if (location.pathname === '/' && home) {
    location.replace(home);
    return;
  }
  render(html`<${Shell} session=${session} path=${location.pathname} />`, root);
}

start(document.getElementById('app'));
