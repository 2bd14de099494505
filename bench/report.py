"""Ratios, targets and the table ``make bench`` prints."""

import datafs

KINDS = ("sale", "baseline-sale", "bill", "baseline-bill", "duplicate")
#: The mail phases (see ``phases.MAIL_MODES``): series name → what the line says.
MAIL_VARIANTS = {
    "no-mail": "with the mail off",
    "no-smtp": "with the mail not sent over SMTP",
}


def _mail_key(name: str, variant: str) -> str:
    """The key of a figure of a mail phase: ``sale_ratio`` + ``no-smtp`` …"""
    return f"{name}_{variant.replace('-', '_')}"


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def derive(results: dict) -> dict:
    """The ratios the issue asks for, from the summaries of a run.

    A throughput ratio is the inverse ratio of mean times; ``*_median`` is the
    same from median times (less sensitive to a noisy neighbour);
    ``*_no_full_gc`` from mean times without the full garbage collections that
    happened to run inside the requests of either series.
    """
    s = results["summary"]

    def extra_cpu(kind, than):  # Zope CPU ms per request beyond the other's
        key = "zope_cpu_ms_without_full_gc"
        mine, other = s[kind].get(key), s[than].get(key)
        return None if mine is None or other is None else mine - other

    def faster(kind, than, stat="mean_ms"):  # throughput of kind / of than
        return _ratio(s[than][stat], s[kind][stat])

    def slower(kind, than, stat="mean_ms"):  # cost of kind / of than
        return _ratio(s[kind][stat], s[than][stat])

    derived = {}
    for site in ("small", "large"):
        derived[site] = {
            "sale_ratio": faster(f"sale@{site}", f"baseline-sale@{site}"),
            "sale_ratio_median": faster(
                f"sale@{site}", f"baseline-sale@{site}", "median_ms"
            ),
            "bill_ratio": faster(f"bill@{site}", f"baseline-bill@{site}"),
            "bill_ratio_median": faster(
                f"bill@{site}", f"baseline-bill@{site}", "median_ms"
            ),
            # Full collections removed from both series (see gcpauses.py).
            "sale_ratio_no_full_gc": faster(
                f"sale@{site}", f"baseline-sale@{site}", "mean_ms_without_full_gc"
            ),
            "bill_ratio_no_full_gc": faster(
                f"bill@{site}", f"baseline-bill@{site}", "mean_ms_without_full_gc"
            ),
            "duplicate_speedup": faster(f"duplicate@{site}", f"sale@{site}"),
            "sale_extra_bytes": s[f"sale@{site}"]["bytes_mean"]
            - s[f"baseline-sale@{site}"]["bytes_mean"],
            "bill_extra_bytes": s[f"bill@{site}"]["bytes_mean"]
            - s[f"baseline-bill@{site}"]["bytes_mean"],
            # All Zope threads, the mail queue's included (see client.interleaved).
            "sale_extra_cpu_ms": extra_cpu(f"sale@{site}", f"baseline-sale@{site}"),
            "bill_extra_cpu_ms": extra_cpu(f"bill@{site}", f"baseline-bill@{site}"),
        }
        growth = results.get("growth", {})
        sale, plone = growth.get(f"sale@{site}"), growth.get(f"baseline-sale@{site}")
        if sale and plone:
            # The add-on's objects, told apart exactly (by class or by oid), and
            # what the rest of a SALE writes beyond the baseline: Plone's share
            # of the bucket splits, which lands where the keys fall.
            ours = datafs.addon_bytes(sale)
            derived[site]["sale_addon_bytes"] = ours
            derived[site]["sale_plone_extra_bytes"] = (
                sum(sale["classes"].values()) - ours - sum(plone["classes"].values())
            )
    for variant in MAIL_VARIANTS:  # SALE vs baseline in the mail phases
        sale, baseline = f"sale-{variant}@small", f"baseline-sale-{variant}@small"
        if sale in s:
            key = _mail_key("sale_ratio", variant)
            derived[key] = faster(sale, baseline)
            derived[f"{key}_no_full_gc"] = faster(
                sale, baseline, "mean_ms_without_full_gc"
            )
            derived[_mail_key("sale_extra_cpu_ms", variant)] = extra_cpu(sale, baseline)
    derived["scale"] = {
        kind: slower(f"{kind}@large", f"{kind}@small") for kind in KINDS
    }
    derived["scale_median"] = {
        kind: slower(f"{kind}@large", f"{kind}@small", "median_ms") for kind in KINDS
    }
    derived["decode_ratio"] = {k: v["ratio"] for k, v in results["decode"].items()}
    derived["decode_ratio_proposed"] = {
        k: v["ratio_proposed"]
        for k, v in results["decode"].items()
        if "ratio_proposed" in v
    }
    derived["sweep_us_per_due"] = {
        f"{site}-{name}": _ratio(1e6 * r["seconds_with_commit"], r["due"])
        for site, points in results["sweeps"].items()
        for name, r in points.items()
    }
    return derived


def targets(derived: dict, concurrency: dict) -> list[tuple[str, str, str, bool]]:
    """``(target, measured, goal, met)`` for every target of the issue."""
    d, small = derived, derived["small"]
    per_due = d["sweep_us_per_due"]
    flat = max(per_due.values()) <= 2 * min(per_due.values())
    return [
        ("SALE handler/baseline", f"{small['sale_ratio']:.2f}", ">= 0.80",
         small["sale_ratio"] >= 0.80),
        ("BILL handler/baseline", f"{small['bill_ratio']:.2f}", ">= 0.85",
         small["bill_ratio"] >= 0.85),
        ("duplicate vs SALE speed-up", f"{small['duplicate_speedup']:.1f}x",
         ">= 3x", small["duplicate_speedup"] >= 3),
        ("SALE cost large/small site", f"{d['scale']['sale']:.2f}", "<= 1.25",
         d["scale"]["sale"] <= 1.25),
        ("p99 latency, 8 clients", f"{concurrency['p99_ms']:.0f} ms", "< 1000 ms",
         concurrency["p99_ms"] < 1000),
        ("non-2xx answers, 8 clients", str(concurrency["non2xx"]), "0",
         concurrency["non2xx"] == 0),
        ("ins.decode / (AES + JSON), 2 KB", f"{d['decode_ratio']['2k']:.1f}x",
         "<= 3x", d["decode_ratio"]["2k"] <= 3),
        ("ins.decode / (AES + JSON), 20 KB", f"{d['decode_ratio']['20k']:.1f}x",
         "<= 3x", d["decode_ratio"]["20k"] <= 3),
        ("Data.fs per SALE beyond baseline", f"{small['sale_extra_bytes']:.0f} B",
         "<= 4096 B", small["sale_extra_bytes"] <= 4096),
        ("sweep: ms per due entitlement",
         " / ".join(f"{v / 1000:.1f}" for v in per_due.values()),
         "flat (max <= 2x min)", flat),
    ]  # fmt: skip


def _retried(concurrency: dict) -> str:
    counts = sorted(concurrency["retries_by_class"].items(), key=lambda kv: -kv[1])
    return ", ".join(f"{name} {count}" for name, count in counts) or "-"


def table(results: dict, derived: dict, rows: list) -> str:
    """The human-readable report."""
    sizes = results["sizes"]
    lines = [
        "",
        f"-- one client, series in turns; small site {sizes['small']} members, "
        f"large site {sizes['large']} (ledgers of the same size) --",
        f"{'':30}{'n':>5}{'mean ms':>9}{'median':>9}{'p95':>8}{'/s':>7}"
        f"{'Data.fs B':>11}{'gc ms':>7}{'full gc':>13}{'Zope cpu':>10}",
    ]
    for kind, s in results["summary"].items():
        full = f"{s['gc_full_n']} / {s['gc_full_ms']:.0f} ms" if s["gc_full_n"] else "-"
        cpu = s.get("zope_cpu_ms")
        lines.append(
            f"{kind:30}{s['n']:>5}{s['mean_ms']:>9.1f}{s['median_ms']:>9.1f}"
            f"{s['p95_ms']:>8.1f}{s['per_second']:>7.1f}{s['bytes_mean']:>11.0f}"
            f"{s['gc_young_ms']:>7.2f}{full:>13}"
            f"{'-' if cpu is None else f'{cpu:.1f}':>10}"
        )
    c = results["concurrency"]
    lines += [
        "",
        f"-- {c['clients']} concurrent clients, waitress 4 threads, {c['n']} "
        f"requests on the large site (SALE, BILL, copies of SALEs) --",
        f"p50 {c['median_ms']:.0f} ms  p95 {c['p95_ms']:.0f} ms  p99 "
        f"{c['p99_ms']:.0f} ms  {c['throughput']:.1f}/s  non-2xx {c['non2xx']}  "
        f"conflict retries {c['retries']}  statuses {c['statuses']}",
        f"{'':19}retried: {_retried(c)}",
    ]
    b = results["concurrency_baseline"]
    lines += [
        f"baseline view     : p50 {b['median_ms']:.0f} ms  p95 {b['p95_ms']:.0f} ms"
        f"  p99 {b['p99_ms']:.0f} ms  {b['throughput']:.1f}/s  non-2xx "
        f"{b['non2xx']}  conflict retries {b['retries']}",
        f"{'':19}retried: {_retried(b)}",
    ]
    lines += ["", "-- ins.decode, us per notification (best batch, in turns) --"]
    for size, m in results["decode"].items():
        proposed = ""
        if "ratio_proposed" in m:  # decode.py's own variant, not clickbank_bench
            proposed = (
                f";  proposed fixes {m['decode_proposed_us']:.0f} -> "
                f"{m['ratio_proposed']:.1f}x"
            )
        lines.append(
            f"{size:>4}: decode {m['decode_us']:.0f} (decrypt {m['decrypt_us']:.0f}"
            f" + parse {m['parse_us']:.0f})  raw AES {m['aes_us']:.0f} + JSON "
            f"{m['json_us']:.0f}  -> {m['ratio']:.1f}x{proposed}"
        )
    lines += ["", "-- expiry sweep, in the Zope process, commit included --"]
    for site, points in results["sweeps"].items():
        for s in points.values():
            gc_ms = [1000 * seconds for seconds in s.get("gc_seconds", ())]
            collections = (
                f"  gc {gc_ms[0] + gc_ms[1]:.0f} + full {gc_ms[2]:.0f} ms"
                if gc_ms
                else ""
            )
            written = (
                f"  {s['bytes_written'] / s['due']:.0f} B written per due"
                if s.get("bytes_written") and s["due"] > 0
                else ""
            )
            lines.append(
                f"{site:5} site ({sizes[site]:>5} members), {s['due']:>4} due: "
                f"{1000 * s['seconds_with_commit']:8.0f} ms{collections}{written}"
                f"  ({s['function']})"
            )
    lines += ["", "-- Data.fs bytes per request by class (small site) --"]
    for kind in ("sale", "baseline-sale", "bill", "baseline-bill"):
        g = results["growth"].get(f"{kind}@small")
        if g:
            top = ", ".join(
                f"{name.rsplit('.', 1)[-1]} {size:.0f}"
                for name, size in list(g["classes"].items())[:7]
            )
            lines.append(f"{kind:14}{g['objects']:5.1f} objects: {top}")
    for site in ("small", "large"):
        d = derived[site]
        if "sale_addon_bytes" in d:
            lines.append(
                f"SALE beyond baseline, {site} site: {d['sale_extra_bytes']:.0f} B = "
                f"the add-on's objects {d['sale_addon_bytes']:.0f} B + Plone's "
                f"{d['sale_plone_extra_bytes']:+.0f} B (bucket splits) + headers"
            )
    lines += [
        "",
        f"Zope RSS after the run: {results['rss_kib'] / 1024:.0f} MiB; "
        f"mails received by the SMTP sink: {results['mails']} "
        f"({_per_mail_ms(results)} ms of the sink's CPU per mail)",
        "",
        "-- ratios (throughput handler/baseline; cost large/small) --",
    ]
    for site in ("small", "large"):
        d = derived[site]
        lines.append(
            f"{site:5}: SALE {d['sale_ratio']:.2f} "
            f"(median {d['sale_ratio_median']:.2f}, without full gc "
            f"{d['sale_ratio_no_full_gc']:.2f})  BILL {d['bill_ratio']:.2f} "
            f"(median {d['bill_ratio_median']:.2f}, without full gc "
            f"{d['bill_ratio_no_full_gc']:.2f})"
            f"  duplicate {d['duplicate_speedup']:.1f}x faster than SALE"
        )
    for variant, label in MAIL_VARIANTS.items():
        key = _mail_key("sale_ratio", variant)
        if key in derived:
            lines.append(
                f"small: SALE {label} {derived[key]:.2f} "
                f"(without full gc {derived[f'{key}_no_full_gc']:.2f})"
            )
    small = derived["small"]
    sale_cpu, bill_cpu = small.get("sale_extra_cpu_ms"), small.get("bill_extra_cpu_ms")
    cpu = []
    if sale_cpu is not None and bill_cpu is not None:
        cpu.append(f"SALE {sale_cpu:+.2f}, BILL {bill_cpu:+.2f}")
    for variant, label in MAIL_VARIANTS.items():
        value = derived.get(_mail_key("sale_extra_cpu_ms", variant))
        if value is not None:
            cpu.append(f"SALE {label} {value:+.2f}")
    if cpu:
        lines.append(
            "small: Zope CPU ms per request beyond the baseline (full gc left out): "
            + "; ".join(cpu)
        )
    lines.append(
        "large/small: "
        + "  ".join(
            f"{k} {v:.2f} (median {derived['scale_median'][k]:.2f})"
            for k, v in derived["scale"].items()
        )
    )
    lines += ["", "-- targets --"]
    for name, measured, goal, met in rows:
        lines.append(
            f"{'met ' if met else 'MISS'} {name:34}{measured:>22}  target {goal}"
        )
    return "\n".join(lines)


def _per_mail_ms(results: dict) -> str:
    if not results.get("mails") or results.get("sink_cpu_s") is None:
        return "?"
    return f"{results['sink_cpu_s'] * 1000 / results['mails']:.2f}"
