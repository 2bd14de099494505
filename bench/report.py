"""Ratios, targets, the table and the last line of ``make bench``."""

SITES = ("small", "large")
KINDS = ("sale", "plone-sale", "old-sale", "bill", "plone-bill")


def derive(summary: dict) -> dict:
    """The ratios of the issue, from the summaries of the one-client series.

    A throughput ratio is the baseline's time over the add-on's: 0.85 means
    the add-on handles 85 % of the notifications Plone handles in the same
    time. The figures without a site pool both sites (as many requests on
    each); ``median`` gives the same from median times, which leave out the
    rare slow request (a full garbage collection, the mail queue's delivery).
    """

    def ratios(stat: str, sites=SITES) -> dict:
        time = {k: sum(summary[f"{k}@{s}"][stat] for s in sites) for k in KINDS}
        return {
            "sale/plone": time["plone-sale"] / time["sale"],
            "bill/plone": time["plone-bill"] / time["bill"],
            "sale/old": time["old-sale"] / time["sale"],
        }

    return {
        **ratios("mean_ms"),
        "scale20k/1k": summary["sale@large"]["mean_ms"]
        / summary["sale@small"]["mean_ms"],
        "plone_scale": summary["plone-sale@large"]["mean_ms"]
        / summary["plone-sale@small"]["mean_ms"],
        "median": ratios("median_ms"),
        "cpu": ratios("cpu_ms"),
        **{site: ratios("mean_ms", (site,)) for site in SITES},
    }


def targets(d: dict, concurrency: dict, non2xx: int) -> list[tuple]:
    """``(name, measured, goal, met)`` for every target of ``make bench``."""
    return [
        ("sale/plone", f"{d['sale/plone']:.2f}", ">= 0.85", d["sale/plone"] >= 0.85),
        ("bill/plone", f"{d['bill/plone']:.2f}", ">= 0.90", d["bill/plone"] >= 0.90),
        ("scale20k/1k", f"{d['scale20k/1k']:.2f}", "<= 1.25",
         d["scale20k/1k"] <= 1.25),
        ("p99_ms, 8 clients", f"{concurrency['p99_ms']:.0f}", "< 500",
         concurrency["p99_ms"] < 500),
        ("non2xx, whole run", str(non2xx), "0", non2xx == 0),
    ]  # fmt: skip


def final_line(d: dict, concurrency: dict, non2xx: int) -> str:
    return (
        f"bench: sale/plone={d['sale/plone']:.2f} bill/plone={d['bill/plone']:.2f} "
        f"scale20k/1k={d['scale20k/1k']:.2f} p99_ms={concurrency['p99_ms']:.0f} "
        f"non2xx={non2xx}"
    )


def table(results: dict, rows: list) -> str:
    """The human-readable report."""
    sizes, d, mail = results["sizes"], results["derived"], results["mail"]
    lines = [
        f"\n-- one client, series in turns (blocks of {sizes['block']}); "
        f"small site {sizes['small']} members, large {sizes['large']} --",
        f"{'':18}{'n':>5}{'mean ms':>9}{'median':>8}{'p95':>8}{'max':>8}"
        f"{'Zope CPU':>10}{'non-2xx':>8}",
    ]
    for kind, s in results["summary"].items():
        lines.append(
            f"{kind:18}{s['n']:>5}{s['mean_ms']:>9.1f}{s['median_ms']:>8.1f}"
            f"{s['p95_ms']:>8.1f}{s['max_ms']:>8.0f}{s['cpu_ms']:>10.1f}{s['non2xx']:>8}"
        )
    lines.append("")
    for name in ("concurrency", "concurrency_plone"):
        c = results[name]
        lines.append(
            f"{'@@clickbank' if name == 'concurrency' else 'Plone baseline':15}"
            f"{c['clients']} clients, {c['n']} requests, large site: p50 "
            f"{c['median_ms']:.0f}  p95 {c['p95_ms']:.0f}  p99 {c['p99_ms']:.0f}  "
            f"max {c['max_ms']:.0f} ms  {c['throughput']:.0f}/s  conflict retries "
            f"{c['retries']}  statuses {c['statuses']}"
        )
    got = mail["received"]
    lines += [
        f"\nwelcome mail: subject {mail['subject_chars']} + text "
        f"{mail['mail_chars']} characters; as received by the SMTP server: "
        f"add-on {got['addon']['bytes']:.0f} B (n={got['addon']['n']}), Plone "
        f"{got['plone']['bytes']:.0f} B (n={got['plone']['n']}); MailHost queue "
        f"mode {'on' if results['stats']['smtp_queue'] else 'OFF'}",
        "throughput add-on/Plone:",
    ]
    for name, r in (("small", d["small"]), ("large", d["large"]), ("both", d),
                    ("medians", d["median"]), ("Zope CPU", d["cpu"])):  # fmt: skip
        lines.append(
            f"  {name:9} sale/plone {r['sale/plone']:.2f}  bill/plone "
            f"{r['bill/plone']:.2f}  sale/old {r['sale/old']:.2f}"
        )
    lines += [
        f"SALE large/small: add-on {d['scale20k/1k']:.2f}, "
        f"Plone {d['plone_scale']:.2f}",
        f"load average {results['load'][0]:.2f} at the start, "
        f"{results['load'][1]:.2f} at the end; {results['seconds']:.0f} s",
        "\n-- targets --",
    ]
    for name, measured, goal, met in rows:
        lines.append(f"{'met ' if met else 'MISS'}  {name:20}{measured:>6}  {goal}")
    lines.append(
        f"\nsale/old={d['sale/old']:.2f}: against Plone creating the member without "
        "a mail (the baseline before the redesign)"
    )
    return "\n".join(lines)
