// The sign-in page: email and password, then back to where the user was going, or to their role's home page.
import { api } from './api.js';
import { homeOf } from './shell.js';
import { t } from './text.js';
import { html, useState } from './view.js';

/// Only a path of this site: `next` comes from the address bar, and must not send the user elsewhere.
function safeNext(next) {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return null;
  return next.startsWith('/login') ? null : next;
}

const NOTICES = { expired: 'login.expired', signed_out: 'login.signed_out' };

export function LoginPage() {
  const query = new URLSearchParams(location.search);
  const notice = NOTICES[query.get('reason')];
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);

  async function submit(event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const session = await api('POST', '/v1/sessions', { email, password });
      location.assign(safeNext(query.get('next')) ?? homeOf(session.role) ?? '/');
    } catch (failure) {
      if (failure.status === 429 && failure.retryAfter) {
        setError(t('login.retry_after', { minutes: Math.ceil(failure.retryAfter / 60) }));
      } else {
        setError(failure.status === 0 ? t('app.unreachable') : failure.message);
      }
      setBusy(false);
    }
  }

  return html`
    <main class="login">
      <h1>${t('app.name')}</h1>
      <h2>${t('login.title')}</h2>
      ${notice && html`<p role="status">${t(notice)}</p>`}
      <form onSubmit=${submit}>
        <label>${t('login.email')}
          <input type="email" name="email" autocomplete="username" required value=${email}
            onInput=${(e) => setEmail(e.currentTarget.value)} />
        </label>
        <label>${t('login.password')}
          <input type="password" name="password" autocomplete="current-password" required value=${password}
            onInput=${(e) => setPassword(e.currentTarget.value)} />
        </label>
        ${error && html`<p role="alert" class="error">${error}</p>`}
        <button type="submit" disabled=${busy}>${busy ? t('login.busy') : t('login.submit')}</button>
      </form>
    </main>
  `;
}
