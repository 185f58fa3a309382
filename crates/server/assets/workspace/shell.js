// What is around every page after sign-in: the pages the role may open, who is signed in, signing out, and the
// notice that the session has ended (from any request of any page), which keeps the page as it was behind it.
import { api, onSessionEnded } from './api.js';
import { t } from './text.js';
import { html, useEffect, useState } from './view.js';

/// Each page, and the roles that may open it.
export const PAGES = [
  { path: '/agent', roles: ['agent'], label: 'nav.agent', load: () => import('./agent.js').then((m) => m.AgentDesktop) },
  { path: '/supervisor', roles: ['supervisor', 'admin'], label: 'nav.supervisor', load: () => import('./supervisor.js').then((m) => m.SupervisorDashboard) },
  { path: '/admin', roles: ['admin'], label: 'nav.admin', load: () => import('./admin.js').then((m) => m.AdminPages) },
];

const HOMES = { agent: '/agent', supervisor: '/supervisor', admin: '/admin' };

export function homeOf(role) {
  return HOMES[role] ?? null;
}

/// The sign-in page, coming back here afterwards.
export function signInUrl(reason) {
  const query = new URLSearchParams({ next: location.pathname + location.search });
  if (reason) query.set('reason', reason);
  return `/login?${query}`;
}

export function Shell({ session, path }) {
  const [ended, setEnded] = useState(false);
  const [Page, setPage] = useState(null);
  useEffect(() => onSessionEnded(() => setEnded(true)), []);
  const page = PAGES.find((p) => p.path === path);
  const permitted = page && page.roles.includes(session.role);
  useEffect(() => {
    if (permitted && page.load) page.load().then((component) => setPage(() => component));
  }, [path]);
  const mine = PAGES.filter((p) => p.roles.includes(session.role));
  const role = t(`role.${session.role}`);

  async function signOut() {
    try {
      await api('DELETE', '/v1/sessions/current');
    } catch {
      // Signed out already (or the session ended): the sign-in page is where the user wanted to go either way.
    }
    location.assign('/login?reason=signed_out');
  }

  let content;
  if (!page) content = html`<p>${t('page.no_pages', { role })}</p>`;
  else if (!permitted) content = html`<p role="alert">${t('page.not_permitted', { role })}</p>`;
  else if (!page.load) content = html`<p>${t('page.not_built', { link: '/docs' })}</p>`;
  else content = Page ? html`<${Page} session=${session} />` : html`<p>${t('app.loading')}</p>`;

  return html`
    <header class="bar">
      <span class="brand">${t('app.name')}</span>
      <nav aria-label=${t('nav.label')}>
        ${mine.map((p) => html`<a href=${p.path} aria-current=${p.path === path ? 'page' : undefined}>${t(p.label)}</a>`)}
        <a href="/docs">${t('nav.api')}</a>
      </nav>
      <span class="who">${t('nav.signed_in_as', { name: session.user.name, role })}</span>
      <button type="button" onClick=${signOut}>${t('nav.sign_out')}</button>
    </header>
    <main id="page">${content}</main>
    ${ended && html`
      <div class="ended" role="alertdialog" aria-modal="true" aria-labelledby="ended-title">
        <div>
          <p id="ended-title">${t('session.ended')}</p>
          <a class="button" href=${signInUrl('expired')}>${t('session.sign_in_again')}</a>
        </div>
      </div>`}
  `;
}
