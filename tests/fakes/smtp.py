"""A local SMTP server (aiosmtpd) that keeps what it receives, so tests read clients' email."""

from __future__ import annotations

import email
import socket
from email.message import Message

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

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

    def sent_to(self, address: str) -> list[Message]:
        return [m for m in self.messages if address in (m["To"] or "")]

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()
