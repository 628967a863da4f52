// The upload widget: Uppy's Dashboard over @uppy/tus, or over @uppy/aws-s3 when the server signs
// direct uploads (the page's <meta name="tusd-upload" content="s3">): then the bytes go straight to
// the bucket in parts and the server only signs. With tus, tus-js-client keeps each file's upload
// URL in localStorage under the file's fingerprint, so the same file picked again after a reload or
// a failed upload continues from the offset the server reports (HEAD), not from zero.

import AwsS3 from '@uppy/aws-s3'
import Uppy from '@uppy/core'
import Dashboard from '@uppy/dashboard'
import Tus from '@uppy/tus'
import { authHeaders, expire, freshToken, reasonOf, refresh } from './auth.js'

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content ?? ''
export const UPLOAD_MODE = meta('tusd-upload') === 's3' ? 's3' : 'tus'
// The part size the server chose (its store's part size): the server bounds the part numbers of an
// upload by its declared size, so the page never cuts smaller parts than these.
const PART_SIZE = Number(meta('tusd-part-size')) || 8 * 1024 * 1024
const MAX_PARTS = 10000

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

// tus through the server: resumable from any byte, across reloads (the fingerprint in localStorage).
function useTus(uppy, endpoint) {
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
}

// The server's reasons for refusing signing calls: @uppy/aws-s3 reports only the status text
// ("Companion request failed: Request Entity Too Large"), so the page keeps the reason of each
// refused call, by the file name of a creation ("name:...") or by the upload id ("id:..."), for
// the upload-error handler.
const refusals = new Map()

function refusalKey(url, options) {
  const { pathname, searchParams } = new URL(url)
  if (pathname === '/s3/params') return `name:${searchParams.get('filename') ?? ''}`
  if (pathname === '/s3/multipart') {
    try { return `name:${JSON.parse(options.body ?? '{}').filename ?? ''}` } catch { return null }
  }
  const match = pathname.match(/^\/s3\/multipart\/([^/]+)/)
  return match ? `id:${decodeURIComponent(match[1])}` : null
}

function directRefusal(file) {
  for (const key of [`id:${file?.s3Multipart?.uploadId}`, `name:${file?.name}`]) {
    const reason = refusals.get(key)
    if (reason) {
      refusals.delete(key)
      return reason
    }
  }
  return null
}

// @uppy/aws-s3 6 calls the signing API with plain fetch and sends no headers of its own: the page
// adds its bearer token to those calls (and only those: the presigned bucket URLs need none, and
// the bucket must not see the token), refreshing it as the other API calls do.
function signWithToken() {
  const plainFetch = window.fetch.bind(window)
  const signing = `${location.origin}/s3/`
  window.fetch = async (url, options = {}) => {
    if (!String(url).startsWith(signing)) return plainFetch(url, options)
    const send = async () => plainFetch(url, {
      ...options,
      credentials: 'same-origin',
      headers: { ...(options.headers ?? {}), ...authHeaders(await freshToken()) },
    })
    let response = await send()
    if (response.status === 401 && await refresh()) response = await send() // the token expired on the way
    const key = response.ok ? null : refusalKey(String(url), options)
    if (key) refusals.set(key, await reasonOf(response.clone()))
    return response
  }
}

// Direct to the bucket: the signing API under /s3/ of this origin (Companion's routes). Every file
// goes in parts (a multipart upload), even a small one: the server hands a completed multipart
// upload to processing at once, and the plugin resumes it from the parts S3 lists after a pause or
// a network drop.
function useDirect(uppy) {
  signWithToken()
  uppy.use(AwsS3, {
    companionEndpoint: location.origin,
    shouldUseMultipart: true,
    limit: 3,
    getChunkSize: (file) => Math.max(PART_SIZE, Math.ceil(file.size / MAX_PARTS)),
  })
  // The server requires the declared size (its limit, the quota, and the check at completion).
  uppy.on('file-added', (file) => uppy.setFileMeta(file.id, { size: file.size }))
}

export async function createUploader({ target, endpoint, onUploaded, limitsNote, speed }) {
  const { maxSize } = await serverLimits(endpoint)
  if (limitsNote) {
    limitsNote.textContent = `Video and audio files${maxSize ? `, up to ${formatBytes(maxSize)} each` : ''}. ` +
      (UPLOAD_MODE === 's3'
        ? 'They go straight to storage; an interrupted upload continues from its last part when retried.'
        : 'An interrupted upload continues where it stopped when you pick the same file again.')
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
    // @uppy/aws-s3 6.3.1 resumes a paused file with a new multipart upload but skips the parts it
    // sent before the pause, so the server's completion would find a gap: no pause in direct mode.
    // A retry after an error does resume the same upload (it lists the parts S3 holds).
    hidePauseResumeButton: UPLOAD_MODE === 's3',
    note: null,
  })
  if (UPLOAD_MODE === 's3') useDirect(uppy)
  else useTus(uppy, endpoint)
  uppy.on('upload-error', (file, error) => {
    const reason = serverReason(error) ?? (UPLOAD_MODE === 's3' ? directRefusal(file) : null)
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
