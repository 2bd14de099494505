"""The benchmark's SMTP server: accepts every mail, saves it, and little else.

Usage: python bench/smtpsink.py DIRECTORY PORT

In production the mail server is an MTA that accepts a mail for a fraction of
a millisecond of CPU, usually on another machine; ``make start``'s aiosmtpd
sink needs a few milliseconds, which on the benchmark's two cores would be
taken from Zope. This one speaks just enough SMTP for ``smtplib`` and saves
each message whole as ``DIRECTORY/<n>.eml`` (n = 1, 2, …).
"""

import asyncio
import contextlib
import os
import sys
from pathlib import Path

REPLIES = {
    b"HELO": b"250 bench-sink\r\n",
    b"EHLO": b"250-bench-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
    b"DATA": b"354 End data with <CR><LF>.<CR><LF>\r\n",
    b"QUIT": b"221 Bye\r\n",
}
OK = b"250 OK\r\n"  # MAIL, RCPT, RSET, NOOP
END_OF_DATA = b"\r\n.\r\n"


class Session(asyncio.Protocol):
    """One SMTP connection."""

    count = 0  # mails saved, all connections together

    def __init__(self, directory: Path):
        self.directory = directory
        self.buffer = b""
        self.in_data = False
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        transport.write(b"220 bench-sink ESMTP\r\n")

    def save(self, message: bytes) -> None:
        Session.count += 1
        temporary = self.directory / f"{Session.count}.tmp"
        temporary.write_bytes(message)
        os.replace(temporary, self.directory / f"{Session.count}.eml")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.buffer:
            if self.in_data:
                # An empty message ends with ".\r\n" straight after DATA.
                end = (b"\r\n" + self.buffer).find(END_OF_DATA)
                if end < 0:
                    return
                self.save(self.buffer[: max(end - 2, 0)])
                self.buffer = self.buffer[end + 3 :]
                self.in_data = False
                self.transport.write(OK)
                continue
            line, found, self.buffer = self.buffer.partition(b"\r\n")
            if not found:
                self.buffer = line
                return
            verb = line[:4].upper()
            self.transport.write(REPLIES.get(verb, OK))
            self.in_data = verb == b"DATA"
            if verb == b"QUIT":
                self.transport.close()
                return


async def serve(directory: Path, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Session(directory), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(target, int(sys.argv[2])))
