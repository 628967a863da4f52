// "My videos": the caller's media from GET /media (newest first, by pages), each item's state kept
// current through its SSE stream (GET /media/{id}/events; EventSource cannot send a header, so the
// access token rides in the query). The server holds a few streams per client address: beyond
// MAX_STREAMS the remaining unfinished items are polled.

import { api, freshToken, reasonOf } from './auth.js'
import { formatBytes } from './upload.js'

const FINAL = new Set(['ready', 'stored', 'failed'])
const MAX_STREAMS = 6
const POLL_MS = 5000
const PAGE = 20

export function stateText(status) {
  const state = status.state ?? 'queued'
  if (state === 'processing') return `processing ${Math.round(Number(status.progress) || 0)}%`
  if (state === 'failed') return `failed: ${status.reason || 'unknown reason'}`
  if (state === 'stored') return `stored: ${status.reason || 'not a video'}`
  if (state === 'uploading' && status.upload_length) {
    return `uploading ${Math.floor((100 * (status.upload_offset ?? 0)) / status.upload_length)}%`
  }
  return state
}

export function formatDuration(seconds) {
  if (seconds == null || !Number.isFinite(Number(seconds))) return ''
  const s = Math.round(Number(seconds))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const rest = String(s % 60).padStart(2, '0')
  return h ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`
}

// One list entry as the page uses it, from an item of GET /media or a status (GET /media/{id}, SSE).
function entry(item) {
  return {
    id: item.id,
    name: item.name || null,
    size: item.size ?? item.upload_length ?? null,
    state: item.state,
    progress: item.progress ?? 0,
    reason: item.reason ?? null,
    duration: item.duration ?? null,
    poster_url: item.poster_url ?? null,
    created_at: item.created_at ?? null,
  }
}

export class VideoList {
  constructor({ list, empty, error, more, confirm, endpoint }) {
    Object.assign(this, { list, empty, error, more, confirm, endpoint })
    this.items = new Map() // id -> { data, element, stream, timer }
    this.cursor = null
    this.more.addEventListener('click', () => this.load({ append: true }))
  }

  async load({ append = false } = {}) {
    this.error.textContent = ''
    const query = new URLSearchParams({ limit: String(PAGE) })
    if (append && this.cursor) query.set('cursor', this.cursor)
    const response = await api(`/media?${query}`)
    if (!response.ok) {
      this.error.textContent = `Your videos could not be loaded: ${await reasonOf(response)}`
      return
    }
    const body = await response.json()
    const items = (Array.isArray(body) ? body : body.items ?? []).map(entry)
    if (!append) this.clear()
    for (const item of items) this.upsert(item, { atEnd: true })
    this.cursor = body.next_cursor ?? body.cursor ?? null
    this.more.hidden = !this.cursor
    this.empty.hidden = this.items.size > 0
  }

  clear() {
    for (const id of [...this.items.keys()]) this.drop(id)
  }

  // A new upload (its file as Uppy had it): shown at the top at once, its state followed from there.
  async added(id, file) {
    if (!id || this.items.has(id)) return
    const response = await api(`/media/${encodeURIComponent(id)}`)
    if (!response.ok) return
    const status = await response.json()
    this.upsert(entry({ ...status, name: file?.name ?? null, size: file?.size ?? status.upload_length }), { atEnd: false })
    this.empty.hidden = true
  }

  nameOf(id) { return this.items.get(id)?.data.name ?? null }

  upsert(data, { atEnd }) {
    let item = this.items.get(data.id)
    if (!item) {
      item = { data, element: this.render(data), stream: null, timer: null }
      this.items.set(data.id, item)
      if (atEnd) this.list.append(item.element)
      else this.list.prepend(item.element)
    } else {
      item.data = { ...item.data, ...Object.fromEntries(Object.entries(data).filter(([, v]) => v != null)) }
    }
    this.paint(item)
    if (FINAL.has(item.data.state)) {
      this.stop(item)
      // The list has no poster, duration or reason: a final item's status has them.
      if (item.data.state === 'ready' ? !item.data.poster_url : !item.data.reason) this.details(item)
    } else {
      this.follow(item)
    }
  }

  render(data) {
    const li = document.createElement('li')
    li.className = 'video'
    li.dataset.id = data.id
    li.innerHTML = `
      <div class="poster" aria-hidden="true"><img alt="" hidden></div>
      <div class="about">
        <a class="name"></a>
        <span class="facts"></span>
        <span class="state" role="status" aria-live="polite"></span>
      </div>
      <button type="button" class="danger delete">Delete</button>`
    li.querySelector('.delete').addEventListener('click', () => this.remove(data.id))
    return li
  }

  paint(item) {
    const { data, element } = item
    const name = data.name || data.id
    const link = element.querySelector('.name')
    link.textContent = name
    link.href = `#/watch/${encodeURIComponent(data.id)}`
    element.querySelector('.facts').textContent =
      [formatBytes(data.size), formatDuration(data.duration)].filter(Boolean).join(' · ')
    const state = element.querySelector('.state')
    state.textContent = stateText(data)
    state.dataset.state = data.state ?? ''
    element.dataset.state = data.state ?? ''
    element.querySelector('.delete').setAttribute('aria-label', `Delete ${name}`)
    const img = element.querySelector('img')
    if (data.poster_url && img.getAttribute('src') !== data.poster_url) {
      img.src = data.poster_url
      img.hidden = false
    }
  }

  // A final item's poster, duration (ready) or reason (failed, stored), from its status (signed
  // URLs are made per request).
  async details(item) {
    const response = await api(`/media/${encodeURIComponent(item.data.id)}`).catch(() => null)
    if (!response?.ok) return
    const status = await response.json()
    item.data = { ...item.data, duration: status.duration, poster_url: status.poster_url, reason: status.reason }
    this.paint(item)
  }

  streams() {
    return [...this.items.values()].filter((i) => i.stream).length
  }

  async follow(item) {
    if (item.stream || item.timer) return
    if (this.streams() >= MAX_STREAMS) {
      item.timer = setTimeout(() => this.poll(item), POLL_MS)
      return
    }
    const token = await freshToken()
    const query = token ? `?access_token=${encodeURIComponent(token)}` : ''
    const stream = new EventSource(`/media/${encodeURIComponent(item.data.id)}/events${query}`)
    item.stream = stream
    const update = (event) => {
      const status = JSON.parse(event.data)
      this.upsert(entry({ ...status, name: null, size: null }), { atEnd: true })
    }
    for (const name of ['progress', 'ready', 'stored', 'failed']) stream.addEventListener(name, update)
    // Closed for good (the stream's lifetime with a token that has expired since, a restart, too
    // many streams): the state is read once, then a new stream with a fresh token (or polling).
    stream.addEventListener('error', () => {
      if (stream.readyState !== EventSource.CLOSED && !FINAL.has(item.data.state)) return // it reconnects itself
      this.stop(item)
      if (this.items.has(item.data.id) && !FINAL.has(item.data.state)) item.timer = setTimeout(() => this.poll(item), POLL_MS)
    })
  }

  // Read the state once; upsert() follows an unfinished item again (a stream if one is free).
  async poll(item) {
    item.timer = null
    if (!this.items.has(item.data.id)) return
    const response = await api(`/media/${encodeURIComponent(item.data.id)}`).catch(() => null)
    if (response?.ok) {
      const status = await response.json()
      this.upsert(entry({ ...status, name: null, size: null }), { atEnd: true })
    } else if (response?.status === 404 || response?.status === 410) {
      this.drop(item.data.id) // deleted elsewhere
      this.empty.hidden = this.items.size > 0
    } else if (!FINAL.has(item.data.state)) {
      item.timer = setTimeout(() => this.poll(item), POLL_MS)
    }
  }

  stop(item) {
    item.stream?.close()
    item.stream = null
    clearTimeout(item.timer)
    item.timer = null
  }

  drop(id) {
    const item = this.items.get(id)
    if (!item) return
    this.stop(item)
    item.element.remove()
    this.items.delete(id)
  }

  async remove(id) {
    const item = this.items.get(id)
    if (!item) return
    this.confirm.querySelector('#confirm-text').textContent =
      `“${item.data.name || id}” and everything made from it will be deleted. This cannot be undone.`
    this.confirm.returnValue = ''
    this.confirm.showModal()
    const answer = await new Promise((resolve) => {
      this.confirm.addEventListener('close', () => resolve(this.confirm.returnValue), { once: true })
    })
    const button = item.element.querySelector('.delete')
    if (answer !== 'delete') {
      button.focus()
      return
    }
    const response = await api(`${this.endpoint}${encodeURIComponent(id)}`, {
      method: 'DELETE',
      headers: { 'Tus-Resumable': '1.0.0' },
    })
    if (!response.ok && response.status !== 404 && response.status !== 410) {
      this.error.textContent = `${item.data.name || id} could not be deleted: ${await reasonOf(response)}`
      button.focus()
      return
    }
    const next = item.element.nextElementSibling ?? item.element.previousElementSibling
    this.drop(id)
    this.empty.hidden = this.items.size > 0
    ;(next?.querySelector('.name') ?? document.getElementById('videos-title')).focus?.()
  }
}
