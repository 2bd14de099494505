"""The benchmark's SMTP server: accepts every mail, saves it, and little else.

Usage: python bench/smtpsink.py DIRECTORY PORT

A mail server in production is an MTA (Postfix, say) that accepts a mail for a
fraction of a millisecond of CPU, usually on another machine. ``make start``'s
sink (aiosmtpd, ``scripts/mailsink.py``) needs a few milliseconds of CPU per
mail, which on the benchmark's two cores would be taken from Zope and charged
to the SALEs. This one speaks just enough SMTP for ``smtplib`` (EHLO, HELO,
MAIL, RCPT, DATA, RSET, NOOP, QUIT) and saves each message as
``DIRECTORY/<n>.eml``, as an MTA writes its queue file. The benchmark reports
the CPU it used per mail.
"""

import asyncio
import contextlib
import sys
from pathlib import Path

REPLIES = {
    b"HELO": b"250 bench-sink\r\n",
    b"EHLO": b"250-bench-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
    b"MAIL": b"250 OK\r\n",
    b"RCPT": b"250 OK\r\n",
    b"RSET": b"250 OK\r\n",
    b"NOOP": b"250 OK\r\n",
    b"DATA": b"354 End data with <CR><LF>.<CR><LF>\r\n",
    b"QUIT": b"221 Bye\r\n",
}
END_OF_DATA = b"\r\n.\r\n"


class Sink:
    """Where the mails go: one file each."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.count = 0

    def save(self, message: bytes) -> None:
        self.count += 1
        (self.directory / f"{self.count}.eml").write_bytes(message)


class Session(asyncio.Protocol):
    """One SMTP connection."""

    def __init__(self, sink: Sink):
        self.sink = sink
        self.buffer = b""
        self.in_data = False
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        transport.write(b"220 bench-sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.buffer:
            if self.in_data:
                # "\r\n" before the first line of the message: an empty one ends
                # with ".\r\n" straight after DATA.
                end = (b"\r\n" + self.buffer).find(END_OF_DATA)
                if end < 0:
                    return
                self.sink.save(self.buffer[: max(end - 2, 0)])
                self.buffer = self.buffer[end + 3 :]
                self.in_data = False
                self.transport.write(b"250 OK\r\n")
                continue
            line, found, rest = self.buffer.partition(b"\r\n")
            if not found:
                return
            self.buffer = rest
            verb = line[:4].upper()
            self.transport.write(REPLIES.get(verb, b"502 Not implemented\r\n"))
            if verb == b"DATA":
                self.in_data = True
            elif verb == b"QUIT":
                self.transport.close()
                return


async def serve(directory: Path, port: int) -> None:
    sink = Sink(directory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Session(sink), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main(directory: str, port: str) -> None:
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(target, int(port)))


if __name__ == "__main__":
    main(*sys.argv[1:3])
