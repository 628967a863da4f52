// The page of tests/direct/test_uppy_browser.py: the stock @uppy/aws-s3 plugin, pointed at
// tusd-py's signing API with companionEndpoint, uploads one generated file. Nothing of the plugin
// is changed; the page only declares the file's size (the server requires it) and, with accounts,
// adds its bearer token to the plugin's calls of the signing API.
import AwsS3 from '@uppy/aws-s3'
import Uppy from '@uppy/core'

function randomBytes(size) {
  const bytes = new Uint8Array(size)
  for (let at = 0; at < size; at += 65536) {
    crypto.getRandomValues(bytes.subarray(at, Math.min(size, at + 65536)))
  }
  return bytes
}

window.runUpload = async ({ endpoint, token, size, multipart }) => {
  if (token) {
    const plainFetch = window.fetch.bind(window)
    window.fetch = (url, opts = {}) =>
      String(url).startsWith(`${endpoint}/s3/`)
        ? plainFetch(url, { ...opts, headers: { ...(opts.headers || {}), Authorization: `Bearer ${token}` } })
        : plainFetch(url, opts)
  }
  const uppy = new Uppy()
  uppy.use(AwsS3, { companionEndpoint: endpoint, shouldUseMultipart: multipart })
  uppy.on('file-added', (file) => uppy.setFileMeta(file.id, { size: file.size }))
  const data = randomBytes(size)
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', data))
  uppy.addFile({ name: 'blob.bin', type: 'application/octet-stream', data: new Blob([data]) })
  const parts = []
  uppy.on('s3-multipart:part-uploaded', (_file, part) => parts.push(part.PartNumber))
  const result = await uppy.upload()
  return {
    sha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join(''),
    parts,
    successful: result.successful.map((f) => ({ uploadURL: f.response.uploadURL, body: f.response.body })),
    failed: result.failed.map((f) => String(f.error)),
  }
}
