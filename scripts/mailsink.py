"""A local SMTP server for ``make start``: saves every mail as a .eml file.

Usage: python scripts/mailsink.py DIRECTORY  (listens on SMTP_HOST:SMTP_PORT)
"""

import os
import sys
import time
from pathlib import Path

from aiosmtpd.controller import Controller


class SaveToDirectory:
    """aiosmtpd handler writing each message to DIRECTORY/<time>-<n>.eml."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.count = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        self.count += 1
        path = self.directory / f"{time.strftime('%Y%m%d-%H%M%S')}-{self.count}.eml"
        path.write_bytes(envelope.original_content or envelope.content)
        print(f"mail for {len(envelope.rcpt_tos)} recipient(s) saved in {path}")
        return "250 Message accepted for delivery"


def main(directory: str) -> None:
    """Run until interrupted."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    host = os.environ.get("SMTP_HOST", "127.0.0.1")
    port = int(os.environ.get("SMTP_PORT", "8025"))
    controller = Controller(SaveToDirectory(target), hostname=host, port=port)
    controller.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "instance/var/mail")
