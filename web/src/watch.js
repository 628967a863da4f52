// Watch: one <video> played by hls.js from the signed playback URL of GET /media/{id}. The
// playlists name a signed key URL (AES-128) that hls.js fetches like any other; signed URLs need
// no token. When they expire (403 on a playlist, segment or key), a fresh status gives fresh
// URLs and playback continues where it was. Until the asset is ready, its state is shown and
// followed (SSE), and it starts by itself once ready.

import Hls from 'hls.js'
import { api, freshToken, reasonOf } from './auth.js'
import { formatBytes } from './upload.js'
import { formatDuration, stateText } from './videos.js'

const RENEW_EARLY = 60 // seconds before urls_expire_at at which fresh URLs are fetched

export class Player {
  constructor({ video, title, message, qualityBox, quality, details }) {
    Object.assign(this, { video, title, message, qualityBox, quality, details })
    this.hls = null
    this.stream = null
    this.renewTimer = null
    this.renewing = false
    this.id = null
    this.name = null
    this.quality.addEventListener('change', () => {
      if (this.hls) this.hls.currentLevel = Number(this.quality.value)
    })
  }

  say(text) { this.message.textContent = text }

  async open(id, name = null) {
    this.close()
    this.id = id
    this.name = name
    this.title.textContent = name ?? 'Watch'
    this.details.textContent = ''
    this.say('Loading…')
    const status = await this.status()
    if (status) this.show(status)
  }

  async status() {
    const id = this.id
    const response = await api(`/media/${encodeURIComponent(id)}`)
    if (id !== this.id) return null // another video was opened meanwhile
    if (response.status === 404 || response.status === 410) {
      this.say('There is no such video.')
      return null
    }
    if (!response.ok) {
      this.say(`The video could not be loaded: ${await reasonOf(response)}`)
      return null
    }
    return response.json()
  }

  show(status) {
    const name = status.name || status.filename || this.name
    if (name) this.title.textContent = name
    this.details.textContent = [formatBytes(status.upload_length), formatDuration(status.duration)].filter(Boolean).join(' · ')
    if (status.state !== 'ready') {
      this.say(status.state === 'failed' || status.state === 'stored'
        ? `This video cannot be played: ${stateText(status)}.`
        : `This video is not ready yet: ${stateText(status)}. It starts here by itself once it is ready.`)
      if (status.state !== 'failed' && status.state !== 'stored') this.follow()
      return
    }
    this.play(status)
  }

  async follow() {
    const token = await freshToken()
    const query = token ? `?access_token=${encodeURIComponent(token)}` : ''
    const stream = new EventSource(`/media/${encodeURIComponent(this.id)}/events${query}`)
    this.stream = stream
    const update = (event) => {
      const status = JSON.parse(event.data)
      if (status.state === 'ready' || status.state === 'failed' || status.state === 'stored') this.stopStream()
      if (status.state === 'ready') this.open(this.id, this.name) // the status with the signed URLs
      else this.show(status)
    }
    for (const name of ['progress', 'ready', 'stored', 'failed']) stream.addEventListener(name, update)
    stream.addEventListener('error', () => {
      if (stream.readyState === EventSource.CLOSED && this.stream === stream) {
        this.stopStream()
        setTimeout(() => { if (this.id && !this.hls) this.open(this.id) }, 3000)
      }
    })
  }

  stopStream() {
    this.stream?.close()
    this.stream = null
  }

  play(status) {
    this.say('')
    this.video.poster = status.poster_url ?? ''
    if (!Hls.isSupported()) {
      if (this.video.canPlayType('application/vnd.apple.mpegurl')) { // Safari plays HLS itself
        this.video.src = status.playback_url
      } else {
        this.say('This browser cannot play HLS video.')
      }
      return
    }
    const hls = new Hls({ enableWorker: true })
    this.hls = hls
    hls.on(Hls.Events.MANIFEST_PARSED, () => this.levels())
    hls.on(Hls.Events.LEVEL_SWITCHED, () => this.levels())
    hls.on(Hls.Events.ERROR, (_event, data) => this.failed(data))
    hls.loadSource(status.playback_url)
    hls.attachMedia(this.video)
    this.scheduleRenew(status.urls_expire_at)
  }

  levels() {
    const hls = this.hls
    if (!hls || hls.levels.length === 0) return
    const options = [['-1', `Auto${hls.autoLevelEnabled && hls.currentLevel >= 0 ? ` (${label(hls.levels[hls.currentLevel])})` : ''}`]]
    hls.levels.forEach((level, index) => options.push([String(index), label(level)]))
    const selected = hls.autoLevelEnabled ? '-1' : String(hls.currentLevel)
    this.quality.replaceChildren(...options.map(([value, text]) => new Option(text, value, false, value === selected)))
    this.qualityBox.hidden = false
  }

  // Fresh signed URLs before these expire, so that a long session never hits a 403.
  scheduleRenew(expiresAt) {
    clearTimeout(this.renewTimer)
    if (!expiresAt) return
    const ms = Math.max(5, Number(expiresAt) - Date.now() / 1000 - RENEW_EARLY) * 1000
    this.renewTimer = setTimeout(() => this.renew('The playback link is about to expire; a fresh one is loaded.'), ms)
  }

  async renew(why) {
    if (!this.hls) return
    this.say(why)
    const at = this.video.currentTime
    const playing = !this.video.paused
    const status = await this.status()
    if (!status || status.state !== 'ready' || !this.hls) return
    const hls = this.hls
    hls.once(Hls.Events.MANIFEST_PARSED, () => {
      this.video.currentTime = at
      if (playing) this.video.play().catch(() => {})
      this.say('')
    })
    hls.loadSource(status.playback_url)
    this.scheduleRenew(status.urls_expire_at)
  }

  failed(data) {
    const code = data.response?.code ?? data.networkDetails?.status
    if (code === 403) { // the signed URLs expired (or the key rotated): fresh ones, same place
      if (!this.renewing) {
        this.renewing = true
        this.renew('The playback link has expired; a fresh one is loaded.').finally(() => { this.renewing = false })
      }
      return
    }
    if (!data.fatal) return
    if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
      this.hls.recoverMediaError()
      return
    }
    this.say(`Playback failed (${data.details}). Reload the page to try again.`)
  }

  close() {
    this.stopStream()
    clearTimeout(this.renewTimer)
    this.hls?.destroy()
    this.hls = null
    this.id = null
    this.video.removeAttribute('src')
    this.video.poster = ''
    this.qualityBox.hidden = true
    this.quality.replaceChildren()
  }
}

function label(level) {
  if (!level) return ''
  const kbps = level.bitrate ? ` · ${Math.round(level.bitrate / 1000)} kb/s` : ''
  return level.height ? `${level.height}p${kbps}` : `${Math.round(level.bitrate / 1000)} kb/s`
}
