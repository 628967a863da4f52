// One tus-js-client upload of a file, driven by tests/clients/test_tus_js_client.py.
//
// Usage: node upload.mjs '<json options>'
//   file        path of the file to upload (read through fs.createReadStream, as Node users do)
//   endpoint    creation URL (POST), for a new upload
//   uploadUrl   URL of an existing upload: the client HEADs it and resumes from the server's offset
//   chunkSize   bytes per PATCH (omit for a single PATCH)
//   abortAt     fraction of the file after which upload.abort() is called mid-transfer (omit to finish)
//   paceMs      delay per 64 KiB read of a PATCH body: on loopback a 20 MiB PATCH would otherwise end
//               before tus-js-client's progress events (throttled to 100 ms) reach abortAt
//   metadata    Upload-Metadata pairs
//   headers     extra headers on every request (e.g. Authorization: Bearer <token>)
//   protocol    'tus-v1' (default), 'ietf-draft-03' or 'ietf-draft-05' (the IETF resumable-upload draft,
//               interop versions 5 and 6: tests/clients/test_tus_js_client_draft.py)
//
// Prints one JSON object on stdout: {event: "aborted" | "success" | "error", url, bytesSent, requests}.
// `requests` lists every request the client made, with the Upload-Offset it sent and got back,
// so the test can check where a resumed client really started.
import { createReadStream } from 'node:fs'
import { Readable, Transform } from 'node:stream'
import { DefaultHttpStack, Upload } from 'tus-js-client'

const opts = JSON.parse(process.argv[2])
const requests = []
let finished = false
let aborting = false

function report(event, extra) {
  if (finished) return
  finished = true
  process.stdout.write(`${JSON.stringify({ event, url: upload.url, requests, ...extra })}\n`)
  process.exit(event === 'error' ? 1 : 0)
}

// Wraps the default Node stack; only the request body is slowed, every byte still goes through it.
function pacedStack(delayMs) {
  const inner = new DefaultHttpStack()
  return {
    getName: () => 'PacedNodeHttpStack',
    createRequest(method, url) {
      const req = inner.createRequest(method, url)
      const send = req.send.bind(req)
      req.send = (body) => {
        if (!(body instanceof Readable)) return send(body)
        const paced = new Transform({
          transform(chunk, _encoding, done) {
            setTimeout(() => done(null, chunk), delayMs)
          },
        })
        paced.size = body.size // the stack sets Content-Length from it
        return send(body.pipe(paced))
      }
      return req
    },
  }
}

const upload = new Upload(createReadStream(opts.file), {
  endpoint: opts.endpoint,
  uploadUrl: opts.uploadUrl,
  chunkSize: opts.chunkSize ?? Number.POSITIVE_INFINITY,
  metadata: opts.metadata ?? {},
  headers: opts.headers ?? {},
  protocol: opts.protocol ?? 'tus-v1',
  // The interrupted client must not retry by itself; the resuming one may, as real clients do,
  // and every status it saw is reported (the test checks there was no error answer).
  retryDelays: opts.abortAt ? null : [0, 500, 1000, 3000],
  httpStack: opts.paceMs ? pacedStack(opts.paceMs) : new DefaultHttpStack(),
  onBeforeRequest(req) {
    requests.push({
      method: req.getMethod(),
      url: req.getURL(),
      sentOffset: req.getHeader('Upload-Offset') ?? null,
      sentMetadata: req.getHeader('Upload-Metadata') ?? null,
      sentComplete: req.getHeader('Upload-Complete') ?? null,
      sentInterop: req.getHeader('Upload-Draft-Interop-Version') ?? null,
    })
  },
  onAfterResponse(req, res) {
    const entry = requests.findLast((r) => r.method === req.getMethod() && r.status === undefined)
    if (entry) {
      entry.status = res.getStatus()
      entry.gotOffset = res.getHeader('Upload-Offset') ?? null
      entry.gotComplete = res.getHeader('Upload-Complete') ?? null
    }
  },
  onProgress(bytesSent, bytesTotal) {
    if (opts.abortAt && !aborting && bytesSent >= opts.abortAt * bytesTotal) {
      aborting = true
      // abort() tears down the PATCH in flight: the server sees the connection die mid-body.
      upload.abort().then(() => report('aborted', { bytesSent }))
    }
  },
  onSuccess() {
    report('success', {})
  },
  onError(error) {
    report('error', { error: String(error) })
  },
})

upload.start()
