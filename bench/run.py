"""``make bench``: the add-on against the Plone limit, over real HTTP.

    .venv/bin/python bench/run.py [--quick] [--profile] [--keep]

Creates a temporary instance (FileStorage + blobs) with two fresh sites,
``small`` and ``large``, grows them with ``populate.py``, serves them with
waitress (4 threads) and measures, with handler and baseline on both sites
taking turns request by request: SALE, BILL, duplicates; then SALE with the
welcome mail off, the expiry sweeps and 8 concurrent clients.
Prints a table, writes ``var/bench/bench-<time>.json`` (and ``latest.json``)
and ends with one ``bench: …`` line. See ``docs/performance.rst``.
"""

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import client  # noqa: E402
import decode  # noqa: E402
import phases  # noqa: E402
import plan  # noqa: E402
import report  # noqa: E402
from server import ROOT  # noqa: E402
from server import Instance  # noqa: E402

OUT = ROOT / "var" / "bench"
_started = time.monotonic()


def step(text: str) -> None:
    """Say what the run is doing, with the time since it started."""
    print(f"[{time.monotonic() - _started:6.0f}s] {text}", flush=True)


def populate(instance: Instance, site: str, members: int, base) -> float:
    start = time.perf_counter()
    output = instance.zconsole(
        Path(__file__).resolve().parent / "populate.py",
        BENCH_SITE=site,
        BENCH_MEMBERS=members,
        BENCH_BASE=base.isoformat(),
    )
    step(output.strip().splitlines()[-1])
    return time.perf_counter() - start


def summaries(samples: dict) -> dict:
    return {kind: client.summary(values) for kind, values in samples.items()}


def measure(instance: Instance, sizes: phases.Sizes, args, out: Path) -> dict:
    base = plan.default_base()
    members = {"small": sizes.small, "large": sizes.large}
    results = {"sizes": dataclasses.asdict(sizes), "base": base.isoformat()}
    step("instance and two fresh sites")
    instance.create()
    results["populate_s"] = {}
    for site, count in members.items():
        step(f"populate {site}: {count} members")
        results["populate_s"][site] = populate(instance, site, count, base)

    instance.start()
    buyers = {site: phases.Buyers(site, count) for site, count in members.items()}
    step("warm-up")
    earlier = phases.warm_up(instance, buyers, base, sizes.warmup)
    step("SALE, BILL, duplicates: handler and baseline on both sites, in turns")
    samples = phases.side_by_side(
        instance,
        buyers,
        base,
        sizes.sales,
        sizes.bills,
        earlier=earlier,
        block=sizes.block,
    )
    step("SALE with the welcome mail off (small site)")
    samples |= phases.mail_off(
        instance, buyers["small"], base, sizes.mail_off, block=sizes.block
    )
    step("SALE with the welcome mail not sent over SMTP (small site)")
    samples |= phases.mail_off(
        instance,
        buyers["small"],
        base,
        sizes.mail_off,
        block=sizes.block,
        mode="mail-no-smtp",
    )
    results["summary"] = summaries(samples)
    results["growth"] = phases.growth(instance, samples)
    step("expiry sweeps")
    results["sweeps"] = phases.sweeps(instance, base)
    step("8 concurrent clients (large site)")
    results["concurrency"] = phases.concurrency(
        instance, buyers["large"], base, sizes.concurrent
    )
    step("8 concurrent clients, baseline (large site)")
    results["concurrency_baseline"] = phases.concurrency(
        instance, buyers["large"], base, sizes.concurrent, view=client.BASELINE
    )
    if args.profile:
        step("profiles (large site)")
        phases.profile_sweep(instance, base, out / "profile-sweep.txt")
        results["profiles"] = phases.profile(
            instance, buyers["large"], base, sizes.profile, out
        )
    results["stats"] = {site: instance.control("stats", site) for site in members}
    results["rss_kib"] = results["stats"]["large"]["rss_kib"]
    time.sleep(1)  # the last mails reach the sink
    results["mails"] = instance.mails()
    results["sink_cpu_s"] = instance.sink_cpu_seconds()
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, < 5 min")
    parser.add_argument("--profile", action="store_true", help="pyinstrument reports")
    parser.add_argument("--keep", action="store_true", help="keep the instance")
    args = parser.parse_args(argv)
    sizes = phases.QUICK if args.quick else phases.FULL
    phases.check(sizes)
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    tmp = Path(tempfile.mkdtemp(prefix="clickbank-bench-"))
    instance = Instance(tmp / "instance")
    try:
        results = measure(instance, sizes, args, OUT)
    finally:
        instance.close()
        if args.keep:
            step(f"instance kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    step("ins.decode")
    seconds = 0.3 if args.quick else 1.0
    results["decode"] = {
        "2k": decode.measure(2 * 1024, seconds),
        "20k": decode.measure(20 * 1024, seconds),
    }
    results["mode"] = "quick" if args.quick else "full"
    results["seconds"] = time.monotonic() - _started
    derived = report.derive(results)
    rows = report.targets(derived, results["concurrency"])
    results["derived"] = derived
    results["targets"] = [
        {"target": t, "measured": m, "goal": g, "met": ok} for t, m, g, ok in rows
    ]
    print(report.table(results, derived, rows))
    path = OUT / f"bench-{stamp}{'-quick' if args.quick else ''}.json"
    text = json.dumps(results, indent=2, default=str)
    path.write_text(text)
    (OUT / ("latest-quick.json" if args.quick else "latest.json")).write_text(text)
    step(f"results in {path}")
    c = results["concurrency"]
    print(
        f"bench: handler/baseline={derived['small']['sale_ratio']:.2f} "
        f"scale20k/1k={derived['scale']['sale']:.2f} p99_ms={c['p99_ms']:.0f} "
        f"non2xx={c['non2xx']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
