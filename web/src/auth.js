// The session: the access token lives in this module's memory only; the refresh token is an
// HttpOnly cookie (Path=/auth) that the page never sees. A reload starts with no access token and
// gets one through POST /auth/refresh; every API call goes through `api()`, which refreshes once
// on a 401 and retries.

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content ?? ''

export const AUTH_MODE = meta('tusd-auth') || 'local' // local | jwt | none
const EARLY = 30_000 // refresh this long before the token expires (a quarter of its life if shorter)

let token = null
let expiresAt = 0
let early = EARLY
let refreshing = null
let user = null
const listeners = new Set()

export function currentUser() { return user }
export function onSessionChange(fn) { listeners.add(fn) }
function changed() { for (const fn of listeners) fn(user) }

function accept(body) {
  const life = (Number(body.expires_in) || 60) * 1000
  token = body.access_token
  expiresAt = Date.now() + life
  early = Math.min(EARLY, life / 4)
}

function forget() {
  token = null
  expiresAt = 0
  user = null
  changed()
}

// The server's reason from an error answer: JSON {"error"/"message"/"detail"} or the tus text
// "ERR_CODE: message".
export async function reasonOf(response) {
  const text = await response.text().catch(() => '')
  try {
    const body = JSON.parse(text)
    const detail = body.message ?? body.detail ?? body.error ?? body.reason
    if (typeof detail === 'string') return detail
    if (Array.isArray(detail)) return detail.map((d) => d.msg ?? String(d)).join('; ')
  } catch { /* not JSON */ }
  const line = text.trim().split('\n')[0] ?? ''
  return line.replace(/^ERR_[A-Z_]+:\s*/, '') || `${response.status} ${response.statusText}`
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message)
    this.status = status
  }
}

async function post(path, body) {
  return fetch(path, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-Requested-With': 'fetch' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
}

// One refresh at a time: parallel callers share it, so a rotated cookie is never presented twice
// (the server would take that for a stolen token and end the session).
export function refresh() {
  if (AUTH_MODE !== 'local') return Promise.resolve(false)
  refreshing ??= (async () => {
    try {
      const response = await post('/auth/refresh')
      if (!response.ok) {
        if (user || token) forget()
        return false
      }
      accept(await response.json())
      return true
    } catch {
      return false // offline: keep what we have, the next call tries again
    } finally {
      refreshing = null
    }
  })()
  return refreshing
}

// A token good for the next request, refreshed first when it is about to expire; null when signed out.
export async function freshToken() {
  if (AUTH_MODE !== 'local') return null
  if (token && Date.now() < expiresAt - early) return token
  await refresh()
  return token
}

// A 401 on a request sent with the current token: the next freshToken() refreshes.
export function expire() { expiresAt = 0 }

export function authHeaders(value) {
  return value ? { Authorization: `Bearer ${value}` } : {}
}

export async function api(path, options = {}) {
  const send = async () => fetch(path, {
    ...options,
    credentials: 'same-origin',
    headers: { ...(options.headers ?? {}), ...authHeaders(await freshToken()) },
  })
  let response = await send()
  if (response.status === 401 && AUTH_MODE === 'local' && await refresh()) response = await send()
  if (response.status === 401 && AUTH_MODE === 'local') forget()
  return response
}

async function loadMe() {
  const response = await api('/auth/me')
  if (!response.ok) throw new ApiError(response.status, await reasonOf(response))
  user = await response.json()
  changed()
  return user
}

// At start: a live refresh cookie signs the user in again without a form.
export async function resume() {
  if (AUTH_MODE === 'none') {
    user = { id: '', email: '' }
    changed()
    return user
  }
  if (AUTH_MODE !== 'local' || !(await refresh())) return null
  return loadMe().catch(() => null)
}

export async function login(email, password) {
  const response = await post('/auth/login', { email, password })
  if (!response.ok) throw new ApiError(response.status, await reasonOf(response))
  accept(await response.json())
  return loadMe()
}

export async function register(email, password) {
  const response = await post('/auth/register', { email, password })
  if (!response.ok) throw new ApiError(response.status, await reasonOf(response))
  return login(email, password)
}

export async function logout() {
  const value = token
  try {
    await fetch('/auth/logout', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'X-Requested-With': 'fetch', ...authHeaders(value) },
    })
  } finally {
    forget()
  }
}
