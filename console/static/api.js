// The JSON API, called with the bearer token kept in sessionStorage.

const SESSION = 'claimflow.session';
// The console lives at <base>/console/; the API at <base>/.
export const API_BASE = new URL('../', new URL('.', location.href)).href.replace(/\/$/, '');

export const session = {
  get() {
    try {
      const s = JSON.parse(sessionStorage.getItem(SESSION) || 'null');
      if (s && s.expires_at && Date.now() > s.expires_at) {
        sessionStorage.removeItem(SESSION);
        return null;
      }
      return s;
    } catch {
      return null;
    }
  },
  set(value) {
    sessionStorage.setItem(SESSION, JSON.stringify(value));
  },
  clear() {
    sessionStorage.removeItem(SESSION);
  },
};

export class ApiError extends Error {
  constructor(status, body) {
    const detail = body && body.detail !== undefined ? body.detail : body;
    super(typeof detail === 'string' ? detail : `HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.detail = detail;
    this.code = body && body.code;
  }
}

function newKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return 'console-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

let onUnauthorized = () => {};
export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

function withQuery(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    params.set(k, String(v));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

/**
 * Call the API. `body` is sent as JSON, `form` as a urlencoded form. Every change carries a
 * fresh Idempotency-Key; a request that never got an answer is sent once more with the same
 * key, so it cannot happen twice.
 */
export async function api(path, { method = 'GET', body, form, query, auth = true } = {}) {
  const headers = { Accept: 'application/json' };
  const s = session.get();
  if (auth && s) headers.Authorization = `Bearer ${s.token}`;
  let payload;
  if (form) {
    payload = new URLSearchParams(form).toString();
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  if (method !== 'GET' && auth && s) headers['Idempotency-Key'] = newKey();
  const url = API_BASE + withQuery(path, query);
  let response;
  try {
    response = await fetch(url, { method, headers, body: payload });
  } catch {
    response = await fetch(url, { method, headers, body: payload });
  }
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { detail: text };
    }
  }
  if (!response.ok) {
    if (response.status === 401 && auth && s) onUnauthorized();
    throw new ApiError(response.status, data);
  }
  return data;
}
