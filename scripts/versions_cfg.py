"""Turn constraints.txt into a buildout ``[versions]`` file (``make constraints``)."""

import sys


def main(path: str) -> None:
    """Print versions.cfg for the pins in ``path``."""
    print("# Generated from constraints.txt by `make constraints`; do not edit.")
    print("[versions]")
    with open(path, encoding="utf-8") as pins:
        lines = pins.read().splitlines()
    for line in lines:
        line = line.split("#")[0].strip()
        if "==" not in line or line.startswith("-"):
            continue
        name, version = line.split("==", 1)
        name = name.split("[")[0].strip()
        print(f"{name} = {version.split(';')[0].strip()}")


if __name__ == "__main__":
    main(sys.argv[1])
