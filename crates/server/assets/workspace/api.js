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

export function api(method, path, body) {
  const headers = body === undefined ? {} : { 'Content-Type': 'application/json' };
  return call(method, path, headers, body === undefined ? undefined : JSON.stringify(body));
}

/// Sends a file as the request body, its type as `Content-Type` (as the API's file routes take it).
export function upload(path, file) {
  return call('POST', path, { 'Content-Type': file.type || 'application/octet-stream' }, file);
}

async function call(method, path, contentHeaders, body) {
  const headers = { Accept: 'application/json', ...contentHeaders };
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let response;
  try {
    response = await fetch(path, { method, headers, body, credentials: 'same-origin' });
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
