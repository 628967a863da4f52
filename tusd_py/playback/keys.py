"""The AppKeys of playback: the ports ``app.py`` fills with the pipeline's implementations.
Protocols are not concrete classes, so the key types are given as annotations."""

from __future__ import annotations

from aiohttp import web

from .ports import MediaStatusSource, Signer, Vault

MEDIA: web.AppKey[MediaStatusSource] = web.AppKey("tusd_py.playback.media")  # status and events
VAULT: web.AppKey[Vault] = web.AppKey("tusd_py.playback.vault")  # decrypts what delivery serves
SIGNER = web.AppKey("tusd_py.playback.signer", Signer)
