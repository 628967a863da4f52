"""``tusd-py users``: accounts for operators (create, list, disable, enable).

``__main__`` opens the stores the server uses (the database's users; sessions in Redis, or in the
database in the embedded default) and hands them here. Disabling an account also ends its
sessions: its refresh tokens stop at once, and its access tokens within the servers' session
cache (1 s). The password of ``create`` comes from a prompt (asked twice) or, with
``--password-stdin``, from the first line of standard input.
"""

from __future__ import annotations

import getpass
import sys
import time
from collections.abc import Callable

from ..protocol.errors import TusError
from .inputs import new_password, normalise_email
from .passwords import Passwords
from .ports import EmailTaken, Sessions, Users

COMMANDS = ("create", "list", "disable", "enable")


class UsersCommandError(Exception):
    """What an operator did wrong; the message says what."""


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password (again): ") != first:
        raise UsersCommandError("the passwords differ")
    return first


async def run(
    command: str,
    email: str,
    *,
    users: Users,
    sessions: Sessions,
    hash_concurrency: int,
    password: Callable[[], str],
) -> list[str]:
    """The output lines of one command; raises ``UsersCommandError``."""
    if command == "list":
        rows = await users.list()
        lines = [f"{'id':32}  {'created (UTC)':19}  {'state':8}  email"]
        for user in rows:
            created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(user.created_at))
            lines.append(f"{user.id:32}  {created}  {'disabled' if user.disabled else 'active':8}  {user.email}")
        return lines
    try:
        email = normalise_email(email)
    except TusError as exc:
        raise UsersCommandError(exc.message) from None
    if command == "create":
        try:
            secret = new_password(password())
        except TusError as exc:
            raise UsersCommandError(exc.message) from None
        passwords = Passwords(hash_concurrency)
        try:
            user = await users.create(email, await passwords.hash(secret))
        except EmailTaken:
            raise UsersCommandError(f"{email} has an account already") from None
        finally:
            passwords.close()
        return [f"created {user.email} ({user.id})"]
    found = await users.by_email(email)
    if found is None:
        raise UsersCommandError(f"no account {email}")
    disable = command == "disable"
    await users.set_disabled(found.id, disable)
    if disable:
        await sessions.revoke_all(found.id)  # refresh tokens stop now; access tokens with the session
        return [f"disabled {email}; its sessions are ended"]
    return [f"enabled {email}"]
