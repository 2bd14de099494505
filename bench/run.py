"""``make bench``: the add-on against Plone's own work for the same job, over HTTP.

    .venv/bin/python bench/run.py [--quick] [--keep]

Creates a temporary instance with two sites, ``small`` and ``large``, puts
their MailHost in queue mode, grows them with real SALEs (``populate.py``),
serves them with waitress (4 threads) and measures, with the add-on and the
Plone baseline on both sites taking turns: SALE, BILL, and SALE against the
old, mail-less baseline; then 8 concurrent clients. Prints a table, writes
``var/bench/bench-<time>.json`` (and ``latest.json``) and ends with one
``bench: …`` line. See ``docs/performance.rst``.
"""

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import load  # noqa: E402
import phases  # noqa: E402
import report  # noqa: E402
from instance import ROOT  # noqa: E402
from instance import Instance  # noqa: E402

OUT = ROOT / "var" / "bench"
_started = time.monotonic()


def step(text: str) -> None:
    """Say what the run is doing, with the time since it started."""
    print(f"[{time.monotonic() - _started:5.0f}s] {text}", flush=True)


def measure(instance: Instance, sizes: phases.Sizes) -> dict:
    members = {"small": sizes.small, "large": sizes.large}
    results = {"sizes": dataclasses.asdict(sizes)}
    step("instance and two fresh sites")
    instance.create()
    instance.start_sink()
    for site, count in members.items():
        step(f"populate {site}: {count} SALEs through @@clickbank")
        step(instance.populate(site, count))
    instance.start()
    buyers = {site: phases.Buyers(site, count) for site, count in members.items()}
    step("warm-up; the size of the welcome mail")
    mail = phases.warm_up(instance, buyers, sizes)
    first = instance.mail_count()
    step("SALE and BILL: add-on and Plone on both sites, in turns")
    samples = phases.side_by_side(instance, buyers, sizes, mail)
    results["summary"] = {kind: load.summary(s) for kind, s in samples.items()}
    step("8 concurrent clients (large site): @@clickbank, then the baseline")
    results["concurrency"] = phases.concurrency(
        instance, buyers["large"], sizes.concurrent
    )
    results["concurrency_plone"] = phases.concurrency(
        instance, buyers["large"], sizes.concurrent, mail
    )
    results["stats"] = instance.stats("large")
    # Every SALE of both views since ``first`` sends one mail.
    sent = 4 * sizes.sales + sizes.concurrent * 55 // 100 + sizes.concurrent * 65 // 100
    instance.wait_for_mails(first + sent)
    mail["received"] = phases.mail_sizes(instance, first)
    results["mail"] = mail
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, < 5 min")
    parser.add_argument("--keep", action="store_true", help="keep the instance")
    args = parser.parse_args(argv)
    sizes = phases.QUICK if args.quick else phases.FULL
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    load_start = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="clickbank-bench-"))
    instance = Instance(tmp / "instance")
    try:
        results = measure(instance, sizes)
    finally:
        instance.close()
        if args.keep:
            step(f"instance kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    head = ["git", "rev-parse", "--short", "HEAD"]
    commit = subprocess.run(head, cwd=ROOT, capture_output=True, text=True).stdout  # noqa: S603
    results.update(mode="quick" if args.quick else "full", commit=commit.strip(),
                   load=(load_start, os.getloadavg()[0]),
                   seconds=time.monotonic() - _started)  # fmt: skip
    results["derived"] = derived = report.derive(results["summary"])
    concurrency = results["concurrency"]
    addon = [
        s for kind, s in results["summary"].items() if kind[:5] in ("sale@", "bill@")
    ]
    non2xx = concurrency["non2xx"] + sum(s["non2xx"] for s in addon)
    rows = report.targets(derived, concurrency, non2xx)
    results["targets"] = [dict(zip(("target", "measured", "goal", "met"), row,
                                   strict=True)) for row in rows]  # fmt: skip
    results["line"] = report.final_line(derived, concurrency, non2xx)
    print(report.table(results, rows))
    path = OUT / f"bench-{stamp}{'-quick' if args.quick else ''}.json"
    path.write_text(json.dumps(results, indent=2))
    shutil.copy(path, OUT / ("latest-quick.json" if args.quick else "latest.json"))
    step(f"results in {path}")
    print(results["line"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
