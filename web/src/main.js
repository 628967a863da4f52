// The page: three views chosen by the URL's fragment: the sign-in form, home (#/: upload and
// My videos) and watch (#/watch/{id}). Focus moves to each view's heading, so a keyboard or
// screen-reader user lands where the content changed.

import './style.css'
import { AUTH_MODE, ApiError, currentUser, login, logout, onSessionChange, register, resume } from './auth.js'
import { createUploader } from './upload.js'
import { VideoList } from './videos.js'
import { Player } from './watch.js'

const $ = (id) => document.getElementById(id)
const ENDPOINT = document.querySelector('meta[name="tusd-endpoint"]')?.content || '/files/'
const views = ['view-auth', 'view-home', 'view-watch']

let uploader = null
let videos = null
let player = null
let shown = null

function showView(name) {
  $('booting').hidden = true
  for (const id of views) $(id).hidden = id !== name
  if (shown !== null && shown !== name) { // not on the first paint: the browser's own start is kept
    const heading = $(name).querySelector('h1:not(.visually-hidden), h2')
    heading?.setAttribute('tabindex', '-1')
    heading?.focus()
  }
  shown = name
}

async function home() {
  if (!uploader) {
    uploader = await createUploader({
      target: '#uploader',
      endpoint: ENDPOINT,
      limitsNote: $('upload-limits'),
      speed: $('upload-speed'),
      onUploaded: (id, file) => videos.added(id, file),
    })
  }
  showView('view-home')
  await videos.load()
}

async function route() {
  if (!currentUser()) {
    player?.close()
    showView('view-auth')
    return
  }
  const match = location.hash.match(/^#\/watch\/([A-Za-z0-9_-]{1,200})$/)
  if (match) {
    showView('view-watch')
    await player.open(match[1], videos.nameOf(match[1]))
    return
  }
  player?.close()
  await home()
}

function setUpAuthForm() {
  const form = $('auth-form')
  const error = $('auth-error')
  if (AUTH_MODE === 'jwt') {
    form.hidden = true
    $('auth-external').hidden = false
    return
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    const action = event.submitter?.value ?? 'login'
    const email = $('email').value.trim()
    const password = $('password').value
    error.textContent = ''
    if (!email || !password) {
      error.textContent = 'Enter your email and password.'
      return
    }
    if (action === 'signup' && password.length < 10) {
      error.textContent = 'Choose a password of at least 10 characters.'
      $('password').focus()
      return
    }
    for (const button of form.querySelectorAll('button')) button.disabled = true
    try {
      await (action === 'signup' ? register(email, password) : login(email, password))
      $('password').value = ''
      await route() // where the fragment points: home, or the video a link led to
    } catch (exc) {
      error.textContent = exc instanceof ApiError ? exc.message : 'The server cannot be reached. Try again.'
    } finally {
      for (const button of form.querySelectorAll('button')) button.disabled = false
    }
  })
}

function setUpAccount() {
  $('logout').addEventListener('click', async () => {
    await logout()
    uploader?.cancelAll()
    videos.clear()
    location.hash = '#/'
  })
  onSessionChange((user) => {
    $('account').hidden = !user || AUTH_MODE === 'none'
    $('who').textContent = user?.email ?? ''
    if (!user && shown && shown !== 'view-auth') route()
  })
}

async function start() {
  videos = new VideoList({
    list: $('videos'),
    empty: $('videos-empty'),
    error: $('videos-error'),
    more: $('more'),
    confirm: $('confirm'),
    endpoint: ENDPOINT,
  })
  player = new Player({
    video: $('video'),
    title: $('watch-title'),
    message: $('watch-message'),
    qualityBox: $('quality-box'),
    quality: $('quality'),
    details: $('watch-details'),
  })
  // The fragment routes the page: the skip link moves focus instead of navigating to "#main".
  document.querySelector('.skip').addEventListener('click', (event) => {
    event.preventDefault()
    $('main').focus()
  })
  setUpAuthForm()
  setUpAccount()
  await resume()
  window.addEventListener('hashchange', route)
  await route()
}

start()
