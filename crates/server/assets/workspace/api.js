// One way to call the API from a page: the session cookie travels by itself, writes carry the session's CSRF
// token, and a 401 anywhere means the session has ended, which every page handles the same way.
let csrfToken = null;
const endedListeners = new Set();

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.code = problem.code;
  }
}

export function useSession(session) {
  csrfToken = session.csrf_token;
}

export function onSessionEnded(listener) {
  endedListeners.add(listener);
  return () => endedListeners.delete(listener);
}

export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError(0, { code: 'unreachable' });
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    error.retryAfter = Number(response.headers.get('retry-after')) || null;
    if (response.status === 401 && csrfToken) {
      csrfToken = null;
      endedListeners.forEach((listener) => listener(error));
    }
    throw error;
  }
  return data;
}
