"""A local SMTP server (aiosmtpd) that keeps what it receives, so tests read clients' email.

Tests may script refusals per recipient (`refuse`): a 5xx reply is a permanent rejection,
a 4xx one a temporary failure, exactly as a real mail server would answer RCPT TO.
"""

from __future__ import annotations

import email
import socket
from email.message import Message

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.refusals: dict[str, list[str]] = {}

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        scripted = self.refusals.get(address)
        if scripted:
            return scripted.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        self.messages.append(email.message_from_bytes(raw))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SmtpFake:
    def __init__(self) -> None:
        self._inbox = _Inbox()
        self.host = "127.0.0.1"
        self.port = _free_port()
        self._controller = Controller(self._inbox, hostname=self.host, port=self.port)

    @property
    def messages(self) -> list[Message]:
        return self._inbox.messages

    def refuse(
        self, address: str, *, times: int = 1, reply: str = "550 5.1.1 Mailbox unavailable"
    ) -> None:
        """Answer the next `times` RCPT TO for `address` with `reply` (e.g. "451 4.3.0 Try later")."""
        self._inbox.refusals.setdefault(address, []).extend([reply] * times)

    def sent_to(self, address: str) -> list[Message]:
        return [m for m in self.messages if address in (m["To"] or "")]

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()
