"""Create a WSGI Zope instance with a FileStorage and a blob storage.

Usage: python scripts/make_instance.py INSTANCE_DIR

Runs Zope's ``mkwsgiinstance`` and then wraps the FileStorage of its zope.conf in
a blob storage (the generated file has none, and Plone stores files as blobs).
Host and port of the server come from the HOST and PORT environment variables.
"""

import os
import re
import subprocess
import sys
from pathlib import Path


def main(instance: str) -> None:
    """Create ``instance`` unless it exists already."""
    home = Path(instance).resolve()
    conf = home / "etc" / "zope.conf"
    if conf.exists():
        print(f"Instance {home} exists already.")
        return
    bindir = Path(sys.executable).parent
    user = os.environ.get("ADMIN_USER", "admin")
    password = os.environ.get("ADMIN_PASSWORD", "admin")
    subprocess.run(
        [bindir / "mkwsgiinstance", "-d", str(home), "-u", f"{user}:{password}"],
        check=True,
    )
    text = conf.read_text()
    storage = (
        "    <blobstorage>\n"
        "      blob-dir $INSTANCE/var/blobstorage\n"
        "      <filestorage>\n"
        "        path $INSTANCE/var/Data.fs\n"
        "      </filestorage>\n"
        "    </blobstorage>\n"
    )
    start = text.index("<filestorage>")
    start = text.rindex("\n", 0, start) + 1
    end = text.index("</filestorage>") + len("</filestorage>\n")
    text = text[:start] + storage + text[end:]
    # Plone reads .mo files; compile the add-ons' .po files when Zope starts.
    # (the generated file also has a commented-out <environment> example)
    text = re.sub(
        r"^<environment>$",
        "<environment>\n  zope_i18n_compile_mo_files true",
        text,
        count=1,
        flags=re.MULTILINE,
    )
    conf.write_text(text)

    ini = home / "etc" / "zope.ini"
    lines = []
    for line in ini.read_text().splitlines():
        if line.startswith("host ="):
            line = f"host = {os.environ.get('HOST', '127.0.0.1')}"
        elif line.startswith("port ="):
            line = f"port = {os.environ.get('PORT', '8080')}"
        lines.append(line)
    ini.write_text("\n".join(lines) + "\n")
    print(f"Instance created in {home} (FileStorage and blobs in {home}/var).")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
