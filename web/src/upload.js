// The upload widget: Uppy's Dashboard over @uppy/tus. tus-js-client keeps each file's upload URL
// in localStorage under the file's fingerprint, so the same file picked again after a reload or a
// failed upload continues from the offset the server reports (HEAD), not from zero.

import Uppy from '@uppy/core'
import Dashboard from '@uppy/dashboard'
import Tus from '@uppy/tus'
import { authHeaders, expire, freshToken } from './auth.js'

// What the pipeline makes videos of; anything else would end 'stored', never playable here.
export const ACCEPTED = ['video/*', 'audio/*', '.mp4', '.m4v', '.mov', '.mkv', '.webm', '.avi', '.ts', '.mp3', '.m4a', '.wav', '.flac', '.ogg']
// Retries across a network drop: tus-js-client waits for the browser to be online again before each.
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000, 30000, 60000]

export function formatBytes(n) {
  if (n == null) return ''
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let i = 0
  let value = n
  while (value >= 1024 && i < units.length - 1) { value /= 1024; i++ } // as Uppy counts (prettier-bytes)
  return `${value.toFixed(i === 0 || value >= 100 ? 0 : 1)} ${units[i]}`
}

// The tus text error "ERR_CODE: message" of a refused request, without the code.
function serverReason(error) {
  const response = error?.originalResponse
  const body = response?.getBody?.()
  if (!body) return null
  const line = String(body).trim().split('\n')[0]
  return line.replace(/^ERR_[A-Z_]+:\s*/, '') || null
}

// Tus-Max-Size from OPTIONS on the endpoint: files above it are refused before a byte is sent.
async function serverLimits(endpoint) {
  try {
    const response = await fetch(endpoint, { method: 'OPTIONS' })
    const max = Number(response.headers.get('Tus-Max-Size'))
    return { maxSize: Number.isFinite(max) && max > 0 ? max : null }
  } catch {
    return { maxSize: null }
  }
}

export function formatSeconds(seconds) {
  const s = Math.max(1, Math.round(seconds))
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`
}

// Uppy's status bar tells the percentage, the bytes and the time left; this line adds the speed
// (bytes a second, smoothed) of the uploads running now. Not a live region: once a second would
// drown a screen reader; the status bar's own text is there for it.
function showSpeed(uppy, element) {
  let last = null
  let rate = 0
  setInterval(() => {
    let done = 0
    let size = 0
    for (const file of uppy.getFiles()) {
      const { progress } = file
      if (!progress.uploadStarted || progress.uploadComplete || file.isPaused || file.error) continue
      done += progress.bytesUploaded || 0
      size += progress.bytesTotal || file.size || 0
    }
    const now = performance.now()
    if (!size) {
      element.textContent = ''
      last = null
      rate = 0
      return
    }
    if (last && done >= last.bytes) {
      const instant = (done - last.bytes) / ((now - last.time) / 1000)
      rate = rate ? 0.7 * rate + 0.3 * instant : instant
    }
    last = { time: now, bytes: done }
    element.textContent = rate > 0
      ? `Uploading at ${formatBytes(rate)}/s, ${formatSeconds((size - done) / rate)} left`
      : 'Starting…'
  }, 1000)
}

export async function createUploader({ target, endpoint, onUploaded, limitsNote, speed }) {
  const { maxSize } = await serverLimits(endpoint)
  if (limitsNote) {
    limitsNote.textContent = `Video and audio files${maxSize ? `, up to ${formatBytes(maxSize)} each` : ''}. ` +
      'An interrupted upload continues where it stopped when you pick the same file again.'
  }
  const uppy = new Uppy({
    autoProceed: true,
    restrictions: { maxFileSize: maxSize, allowedFileTypes: ACCEPTED },
    locale: {
      strings: {
        exceedsSize: `%{file} is larger than the server accepts (%{size} at most)`,
        youCanOnlyUploadFileTypes: 'Only video and audio files are accepted: %{types}',
      },
    },
  })
  uppy.use(Dashboard, {
    inline: true,
    target,
    width: '100%',
    height: 340,
    showProgressDetails: true, // speed and time left
    proudlyDisplayPoweredByUppy: false,
    hideRetryButton: false,
    hidePauseResumeButton: false,
    note: null,
  })
  uppy.use(Tus, {
    endpoint,
    limit: 3,
    retryDelays: RETRY_DELAYS,
    removeFingerprintOnSuccess: true,
    async onBeforeRequest(req) {
      for (const [name, value] of Object.entries(authHeaders(await freshToken()))) req.setHeader(name, value)
    },
    onShouldRetry(error, attempt, options, next) {
      const status = error?.originalResponse?.getStatus?.()
      if (status === 401) { // the token expired on the way: the next try takes a fresh one (onBeforeRequest)
        expire()
        return attempt < 2
      }
      return next(error)
    },
  })
  uppy.on('upload-error', (file, error) => {
    const reason = serverReason(error)
    if (file && reason) {
      uppy.setFileState(file.id, { error: reason })
      uppy.info(`${file.name}: ${reason}`, 'error', 8000)
    }
  })
  uppy.on('upload-success', (file, response) => {
    const url = response?.uploadURL ?? ''
    onUploaded?.(url.split('/').filter(Boolean).pop() ?? '', file)
  })
  // Online again: the uploads that gave up while the network was gone start again from the server's offset.
  uppy.on('back-online', () => uppy.retryAll())
  if (speed) showSpeed(uppy, speed)
  return uppy
}
