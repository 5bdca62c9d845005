"""`app.py runs ...`: the experiment log from the command line (list, show, compare, export, delete, csv)."""
from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

from .errors import StudioError


def add_runs_parser(sub) -> None:
    r = sub.add_parser("runs", help="the experiment log: every training run, its settings, curves and weights")
    rs = r.add_subparsers(dest="runs_command", metavar="{list,show,compare,export,delete,csv}")
    rs.required = True
    ls = rs.add_parser("list", help="all runs, newest first")
    ls.add_argument("--texture", metavar="PATH", help="only runs on this image (same path or same contents)")
    ls.add_argument("--json", action="store_true", help="a JSON array of objects instead of a table")
    show = rs.add_parser("show", help="one run: settings, figures, series, files")
    show.add_argument("id", metavar="ID")
    show.add_argument("--json", action="store_true")
    cmp = rs.add_parser("compare", help="one PNG with both predictions, their difference and both curves")
    cmp.add_argument("ids", nargs=2, metavar="ID")
    cmp.add_argument("--out", required=True, metavar="PNG")
    exp = rs.add_parser("export", help="copy a run's weights file (.ntsw)")
    exp.add_argument("id", metavar="ID")
    exp.add_argument("--out", required=True, metavar="FILE")
    rm = rs.add_parser("delete", help="remove a run and its files")
    rm.add_argument("id", metavar="ID")
    table = rs.add_parser("csv", help="every run as a CSV row")
    table.add_argument("--out", required=True, metavar="FILE")


def cmd_runs(args) -> int:
    from .runlog import RunLog
    log = RunLog()
    for note in log.notes:
        print(f"note: {note}", file=sys.stderr)
    try:
        return {"list": _list, "show": _show, "compare": _compare, "export": _export, "delete": _delete,
                "csv": _csv}[args.runs_command](log, args)
    finally:
        log.close()


def _list(log, args) -> int:
    if args.texture and not Path(args.texture).expanduser().exists():
        raise StudioError(f"--texture {args.texture}: no such file")
    runs = log.runs(args.texture)
    if args.json:
        print(json.dumps(runs, indent=1))
        return 0
    header = ("#", "status", "source", "texture", "preset (encoding)", "parameters", "bpp", "steps", "time",
              "PSNR", "SSIM", "FLIP", "started")
    rows = [(str(r["id"]), r["status"], r["source"], Path(r["texture"]).name or "(generated)",
             f"{r['preset']} ({r['encoding']})", f"{r['parameters']:,}", f"{r['bits_per_pixel']:.2f}",
             f"{r['steps']:,}", f"{r['seconds']:.1f} s", "-" if r["psnr"] is None else f"{r['psnr']:.2f} dB",
             "-" if r["ssim"] is None else f"{r['ssim']:.4f}", "-" if r["flip"] is None else f"{r['flip']:.4f}",
             r["started"].replace("T", " ").rstrip("Z")) for r in runs]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    print(f"{len(runs)} run(s); the log takes {_mb(log.disk_usage())} in {log.home}")
    return 0


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


def _show(log, args) -> int:
    from .runlog import parse_run_id
    run_id = parse_run_id(args.id)
    run = log.get(run_id)
    folder = log.run_folder(run_id)
    files = {name: (str(folder / f) if (folder / f).is_file() else None)
             for name, f in (("weights", "weights.ntsw"), ("thumbnail", "thumbnail.png"))}
    series = log.series(run_id)
    if args.json:
        print(json.dumps({**run, "preset_config": log.preset(run_id).to_dict(), "series": series, **files},
                         indent=1))
        return 0
    for key, value in run.items():
        print(f"{key:>20}: {value}")
    for name, points in series.items():
        print(f"{'series ' + name:>20}: {len(points)} points")
    for name, path in files.items():
        print(f"{name:>20}: {path or '(none)'}")
    print(f"{'preset':>20}: {json.dumps(log.preset(run_id).to_dict())}")
    return 0


def _compare(log, args) -> int:
    from .run_compare import compare_image
    from .runlog import parse_run_id
    from .texture import save_image
    ids = [parse_run_id(i) for i in args.ids]
    runs = [log.get(i) for i in ids]
    _check_folder(args.out)
    image = compare_image(runs, [log.thumbnail(i) for i in ids], [log.series(i) for i in ids])
    save_image(args.out, image)
    print(f"wrote {args.out} (runs {ids[0]} and {ids[1]})", file=sys.stderr)
    return 0


def _export(log, args) -> int:
    from .atomic import atomic_write
    from .runlog import parse_run_id
    source = log.weights_path(parse_run_id(args.id))
    atomic_write(args.out, source.read_bytes())
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _delete(log, args) -> int:
    from .runlog import parse_run_id
    run_id = parse_run_id(args.id)
    log.delete(run_id)
    print(f"deleted run {run_id}", file=sys.stderr)
    return 0


def _csv(log, args) -> int:
    from .atomic import atomic_write
    from .runlog import SUMMARY_KEYS
    _check_folder(args.out)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SUMMARY_KEYS, lineterminator="\n")
    writer.writeheader()
    runs = log.runs()
    writer.writerows(runs)
    atomic_write(args.out, buf.getvalue().encode())
    print(f"wrote {args.out} ({len(runs)} runs)", file=sys.stderr)
    return 0


def _check_folder(path: str) -> None:
    if not Path(path).resolve().parent.is_dir():
        raise StudioError(f"cannot write {path}: its folder does not exist")
