// The admin pages: what the organization is configured with, section by section (channels, messaging accounts, workstreams and their
// routing rules, queues, presences, capacity profiles, users and agents, quick replies, API access, webhooks). The section is in
// the address (`/admin?section=queues`), so reload, links and back all land on it.
import { t } from './text.js';
import { html, useState } from './view.js';
import { Channels, Queues, Workstreams } from './admin/setup.js';
import { Presences, Profiles, QuickReplies, Users } from './admin/people.js';
import { Access, Webhooks } from './admin/webhooks.js';
import { MessagingAccounts } from './admin/accounts.js';

const SECTIONS = [
  ['channels', Channels],
  ['accounts', MessagingAccounts],
  ['workstreams', Workstreams],
  ['queues', Queues],
  ['presences', Presences],
  ['profiles', Profiles],
  ['users', Users],
  ['quick_replies', QuickReplies],
  ['access', Access],
  ['webhooks', Webhooks],
];

function sectionOfAddress() {
  const wanted = new URLSearchParams(location.search).get('section');
  return SECTIONS.some(([name]) => name === wanted) ? wanted : SECTIONS[0][0];
}

// Back and forward move between sections of this one page. The listener is the module's, so that it is there from
// the first render on (an effect's would miss a quick Back); it updates the page that is shown.
let showSection = null;
addEventListener('popstate', () => showSection?.(sectionOfAddress()));

export function AdminPages({ session }) {
  const [section, setSection] = useState(sectionOfAddress());
  showSection = setSection;
  function go(event, name) {
    // A plain click stays in the page; a middle click or Ctrl+click opens the section elsewhere as links do.
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    history.pushState(null, '', `/admin?section=${name}`);
    setSection(name);
  }
  const [, Section] = SECTIONS.find(([name]) => name === section);
  return html`<div class="admin">
    <h1 class="admin-title">${t('admin.title')}</h1>
    <nav class="admin-nav" aria-label=${t('admin.sections')}>
      <ul>${SECTIONS.map(([name]) => html`<li>
        <a href=${`/admin?section=${name}`} aria-current=${name === section ? 'page' : undefined}
          onClick=${(e) => go(e, name)}>${t(`admin.section.${name}`)}</a>
      </li>`)}</ul>
    </nav>
    <section class="admin-section" aria-labelledby="section-title">
      <h2 id="section-title">${t(`admin.section.${section}`)}</h2>
      <${Section} key=${section} session=${session} />
    </section>
  </div>`;
}
