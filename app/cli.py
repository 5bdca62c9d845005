"""Command-line front end: train, infer, export, compare, runs, info. Never imports the UI."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import StudioError
from .jsonfile import shown


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are one line `error: ...`, exit status 2, like every other refusal."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="app.py", description="Neural Texture Studio: train small MLPs to "
                                "reproduce textures on the GPU. Without a command, opens the window.")
    p.add_argument("--mlp", choices=["auto", "portable", "coopvec"], default=None,
                   help="MLP implementation (default: CoopVec where the device supports it)")
    sub = p.add_subparsers(dest="command")
    t = sub.add_parser("train", help="train a network on a texture, headless")
    t.add_argument("--texture", required=True, help="image file (PNG, JPEG, ... anything imageio reads)")
    t.add_argument("--preset", default="rtxns-simple-training", help="preset name (presets/*.json) or JSON path")
    for _, s in train_options():  # from the preset's declarations: same type, choices and range checks
        t.add_argument(s.flag, type=s.kind, choices=s.choices() if s.choices else None,
                       help=f"{s.doc} (default: the preset's)")
    t.add_argument("--size", help="resample the texture to WxH before training")
    t.add_argument("--out", help="write the trained weights here")
    t.add_argument("--preview", help="write the network's image (PNG) here")
    t.add_argument("--init", metavar="FILE", help="start from this network (weights file, RTXNS .bin or JSON): its "
                   "encoding and network replace the preset's, which still supplies loss, optimizer and training")
    t.add_argument("--target-psnr", metavar="DB|bc7|bc1",
                   help="search the smallest network of the preset's family (hidden width and layers, or grid levels "
                        "and table size) reaching this PSNR within --steps per attempt; bc7/bc1: the PSNR that codec "
                        "reaches on the texture")
    t.add_argument("--max-candidates", type=int, metavar="N",
                   help="with --target-psnr: search only the N smallest networks of the family")
    t.add_argument("--no-record", action="store_true", help="do not record this run in the experiment log")
    _add_import_options(t)
    i = sub.add_parser("infer", help="render a weights file's image (also RTXNS .bin and JSON networks)")
    source = i.add_mutually_exclusive_group(required=True)
    source.add_argument("--weights", help="weights file, RTXNS .bin or JSON")
    source.add_argument("--run", metavar="ID", help="the final weights of this run in the experiment log")
    i.add_argument("--out", required=True, help="output image (PNG)")
    i.add_argument("--size", help="WxH (default: the training texture's size)")
    _add_import_options(i)
    from .formats import FORMATS
    e = sub.add_parser("export", help="write a network for other software (RTXNS, shaders, numpy, JSON)",
                       description="Formats: " + "; ".join(f"{f.name}: {f.summary}" for f in FORMATS.values()))
    e.add_argument("--weights", required=True, help="weights file (or RTXNS .bin/JSON) to export")
    e.add_argument("--format", required=True, choices=list(FORMATS))
    e.add_argument("--out", required=True, help="output file (rtxns formats also write OUT.encoding.json)")
    e.add_argument("--layout", choices=["row-major", "column-major"],
                   help="rtxns: matrix layout of the file (default row-major)")
    e.add_argument("--round-float16", action="store_true",
                   help="rtxns, rtxns-json: round a float32 network's weights to float16 (otherwise refused)")
    e.add_argument("--arrays", choices=["plain", "base64"], help="json: arrays as numbers (default) or base64 float32")
    e.add_argument("--shader-weights", choices=["constants", "buffer"],
                   help="slang, hlsl: weights as literals in the code (default; runs ~10x faster on lavapipe, "
                        "compiles in ~26 s of CPU there for the 13.5k-weight rtxns network against ~17 s) or read "
                        "from a buffer nts_weights, written to OUT.weights.bin (little-endian float32; a trainable "
                        "encoding's table follows the MLP there; constants mode refuses large tables)")
    _add_import_options(e)
    c = sub.add_parser("compare", help="networks against JPEG, WebP, BC1, BC7 and ASTC on one texture: "
                       "rate-distortion figure and CSV table")
    c.add_argument("--texture", required=True, help="image file the codecs encode and the networks reproduce")
    c.add_argument("--weights", nargs="+", action="extend", default=[], metavar="FILE",
                   help="trained networks to place among the codecs (weights files, RTXNS .bin or JSON)")
    c.add_argument("--transform", choices=["none", "flip", "zoom"],
                   help="UV transform of the reference (default: the networks', else none)")
    c.add_argument("--size", help="resample the texture to WxH first")
    c.add_argument("--out", required=True, help="figure (PNG): PSNR and FLIP against bits per pixel")
    c.add_argument("--csv", help="table: codec,setting,bits_per_pixel,psnr,ssim,flip,seconds")
    _add_import_options(c)
    from .cli_runs import add_runs_parser
    add_runs_parser(sub)
    sub.add_parser("info", help="device, adapter, features and MLP paths")
    return p


def _add_import_options(parser) -> None:
    g = parser.add_argument_group("RTXNS files", "RTXNS networks record no encoding or activations. Without these "
                                  "options they come from FILE.encoding.json beside the file, else 12 inputs are "
                                  "taken as RTXNS EncodeFrequency and the activations as RTXNS Simple Training's "
                                  "(LeakyReLU 0.01, Sigmoid output).")
    g.add_argument("--encoding", metavar="SPEC",
                   help="identity, frequency, frequency:N or a JSON object such as '{\"otype\": \"sin\", \"octaves\": 4}'")
    g.add_argument("--hidden-activation", metavar="NAME", help="activation of the hidden layers")
    g.add_argument("--output-activation", metavar="NAME", help="activation of the output layer")
    g.add_argument("--leaky-relu-alpha", type=float, metavar="X", help="leaky ReLU slope for x < 0")


def _import_options(args):
    from .activations import activation_name
    from .export.imports import ImportOptions
    alpha = args.leaky_relu_alpha
    if alpha is not None and not 0.0 <= alpha <= 1.0:
        raise StudioError(f"--leaky-relu-alpha {alpha} is out of range [0, 1]")
    return ImportOptions(
        encoding=args.encoding,
        activation=None if args.hidden_activation is None else activation_name(args.hidden_activation,
                                                                               "--hidden-activation"),
        output_activation=None if args.output_activation is None else activation_name(args.output_activation,
                                                                                       "--output-activation"),
        leaky_relu_alpha=alpha)


def _load_network(path: str, args):
    """A network file of any format the app reads; notes about what an import assumed go to stderr."""
    from .formats import open_network
    weights = open_network(path, _import_options(args))
    for note in weights.notes:
        print(f"note: {note}", file=sys.stderr)
    return weights


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:
        from .ui.main import run_app
        return run_app(mlp_path=args.mlp)
    try:
        from .cli_runs import cmd_runs
        return {"train": cmd_train, "infer": cmd_infer, "export": cmd_export, "compare": cmd_compare, "runs": cmd_runs,
                "info": cmd_info}[args.command](args)
    except StudioError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


def cmd_info(args) -> int:
    from .device import choose_mlp_path, create_device, describe
    device = create_device()
    info = describe(device)
    print(f"device: {info.api}, adapter: {info.adapter}")
    print(f"software device: {'yes' if info.software else 'no'}")
    print(f"cooperative vectors: {'yes' if info.cooperative_vector else 'no'}")
    print(f"features: {', '.join(f.name for f in device.features)}")
    print(f"MLP paths: {', '.join(info.paths)} (selected: {choose_mlp_path(info, args.mlp)})")
    return 0


def train_options():
    """(Preset method, setting) for each preset setting declared with a `train` option."""
    from .optimizers import OptimizerConfig
    from .preset import TrainingConfig
    from .registry import settings_of
    return [(method, s) for method, cls in (("with_training", TrainingConfig), ("with_optimizer", OptimizerConfig))
            for s in settings_of(cls) if s.flag]


def _with_options(preset, args):
    """The preset with the `train` options applied through its own checks."""
    for method, s in train_options():
        value = getattr(args, s.flag[2:].replace("-", "_"))
        try:
            preset = getattr(preset, method)(**{s.name: value})
        except StudioError as err:
            raise StudioError(f"{s.flag} {shown(value)}: {err}") from None
    return preset


def train_settings(args):
    """The preset ``train`` runs (options applied, --init's network) and the --init file, all checked
    before any file is written or device created."""
    from .preset import load_preset
    preset = _with_options(load_preset(args.preset), args)
    if not args.init:
        from .export.imports import ImportOptions
        if _import_options(args) != ImportOptions():
            raise StudioError(f"{', '.join(_import_options(args).given)} describe the network of --init FILE, "
                              "which was not given")
        return preset, None
    init = _load_network(args.init, args)
    if (init.preset.encoding, init.preset.network) != (preset.encoding, preset.network):
        print(f"note: training the network of {Path(args.init).name} ({init.preset.encoding.otype} encoding, "
              f"{init.preset.network.n_hidden_layers} x {init.preset.network.n_neurons} "
              f"{init.preset.network.activation}, {init.preset.network.precision}); preset {preset.name} "
              "supplies loss, optimizer and training settings", file=sys.stderr)
    from dataclasses import replace
    return replace(preset, encoding=init.preset.encoding, network=init.preset.network), init


def _tiles_note(net, layout) -> str:
    if not net.is_array:
        return ""
    return (f" ({net.tiles[0]} x {net.tiles[1]} tiles of {layout.tile_parameter_count}"
            f"{', blended' if net.blend else ''})")


def cmd_train(args) -> int:
    from .device import create_device
    from .limits import check_device_request
    from .texture import load_image, parse_size, save_image
    from .trainer import Trainer
    from .network_file import WeightsFile
    from .weights_io import save_weights

    preset, init = train_settings(args)
    size = parse_size(args.size) if args.size else None
    image = load_image(args.texture, size)
    for target in (args.out, args.preview):
        if target and not Path(target).resolve().parent.is_dir():
            raise StudioError(f"cannot write {target}: its folder does not exist")

    if args.target_psnr is not None:
        target = _target_psnr(args, image, preset)  # refusals come before the device starts
        return _train_to_target(args, create_device(), image, preset, target)
    if args.max_candidates is not None:
        raise StudioError("--max-candidates applies to --target-psnr, which was not given")
    device = create_device()
    check_device_request(device, preset, args.mlp, texture=(image.shape[1], image.shape[0]))
    trainer = Trainer(device, image, preset, mlp_path=args.mlp)
    if init is not None:
        trainer.set_parameters(init.parameters)
    steps = preset.training.steps
    h, w = image.shape[:2]
    del image  # the texture holds it now (an 8192^2 float image is 0.8 GB of host memory)
    print(f"training {preset.name} on {Path(args.texture).name} ({w}x{h}, transform {trainer.transform}) "
          f"with {trainer.layout.parameter_count} parameters{_tiles_note(trainer.network, trainer.layout)}, "
          f"batch {trainer.batch}, {steps} steps, "
          f"{trainer.info.adapter} ({trainer.mlp_path} MLP)", file=sys.stderr)
    trainer.warm_up()  # the driver's pipeline compiles are not training time
    recorder = None if args.no_record else _recorder(trainer, args.texture)
    try:
        _train_loop(trainer, steps, recorder)
    except StudioError:  # the loop's only StudioError: training diverged
        if recorder is not None:
            recorder.finish("diverged")
        raise
    except BaseException:
        if recorder is not None:
            recorder.finish("stopped")
        raise
    from .footprint import bits_per_pixel
    from .quality import Quality, measure, metrics_size
    qsize = metrics_size((w, h))
    if qsize == (w, h):  # SSIM and FLIP of the full-resolution prediction
        psnr, views = trainer.evaluate(images=("prediction", "reference"))
        quality = measure(views["reference"], views["prediction"])
    else:  # full-resolution PSNR (and preview); SSIM and FLIP on a bounded view
        psnr, views = trainer.evaluate(images=("prediction",) if args.preview else (), eight_bit=True)
        _, small = trainer.evaluate(qsize, images=("prediction", "reference"))
        q = measure(small["reference"], small["prediction"])
        quality = Quality(psnr, q.ssim, q.flip)
        print(f"note: SSIM and FLIP measured on a {qsize[0]}x{qsize[1]} view of the {w}x{h} texture", file=sys.stderr)
    rate = trainer.samples_seen / trainer.train_seconds
    stats = {"steps": trainer.step, "samples": trainer.samples_seen, "loss": trainer.last_loss(), "psnr": psnr,
             "train_seconds": trainer.train_seconds, "samples_per_s": rate, "adapter": trainer.info.adapter,
             "loss_scale": trainer.loss_scale_state()[0], "skipped_steps": trainer.loss_scale_state()[1]}
    stats.update(ssim=quality.ssim, flip=quality.flip, bits_per_pixel=bits_per_pixel(preset, (w, h)))
    if args.out:
        save_weights(args.out, WeightsFile(preset, trainer.parameters(), (w, h), trainer.transform, stats))
        print(f"wrote weights {args.out}", file=sys.stderr)
    if args.preview:
        save_image(args.preview, views["prediction"])
        print(f"wrote preview {args.preview}", file=sys.stderr)
    run_id = recorder.finish("finished", psnr=psnr, quality=quality) if recorder is not None else None
    print(f"psnr={psnr:.2f} samples_per_s={rate:.0f} steps={trainer.step} seconds={trainer.train_seconds:.2f} "
          f"ssim={quality.ssim:.4f} flip={quality.flip:.4f}" + (f" run={run_id}" if run_id is not None else ""))
    return 0


def _target_psnr(args, image, preset) -> float:
    """--target-psnr as dB: a number, or the PSNR BC7 or BC1 reaches on the (transformed) texture."""
    from .codecs import codec_psnr
    from .quality import transformed_reference
    if args.init:
        raise StudioError("--target-psnr searches networks of the preset's family from scratch; it cannot start "
                          "from --init")
    if args.max_candidates is not None and args.max_candidates < 1:
        raise StudioError("--max-candidates must be at least 1")
    text = args.target_psnr.strip().lower()
    if text in ("bc1", "bc7"):
        target = codec_psnr(transformed_reference(image, preset.training.transform), text)
        print(f"target: {text.upper()} reaches {target:.2f} dB on this texture", file=sys.stderr)
    else:
        try:
            target = float(text)
        except ValueError:
            raise StudioError(f"--target-psnr {args.target_psnr!r} must be a number of dB, bc7 or bc1") from None
        if not 0 < target < 200:
            raise StudioError(f"--target-psnr {target:g} is out of range (0, 200) dB")
    return target


def _train_to_target(args, device, image, preset, target: float) -> int:
    from .target_search import describe, search
    from .texture import save_image
    from .trainer import Trainer
    from .weights_io import WeightsFile, save_weights

    def report(p):
        if p.done is None:
            sys.stderr.write(f"\rattempt {p.attempt}/{p.max_attempts} {p.candidate}: step {p.step}/{p.steps}   ")
            sys.stderr.flush()
            return
        sys.stderr.write("\r" + " " * 100 + "\r")
        a = p.done
        verdict = a.note or ("reached" if a.reached else "below target")
        print(f"attempt {p.attempt}: {p.candidate}, {a.bits_per_pixel:.4f} bpp, psnr={a.quality.psnr:.2f} "
              f"ssim={a.quality.ssim:.4f} flip={a.quality.flip:.4f} seconds={a.seconds:.2f}: {verdict}", flush=True)

    h, w = image.shape[:2]
    print(f"searching the smallest {preset.name} network reaching {target:.2f} dB on {Path(args.texture).name} "
          f"({w}x{h}), {preset.training.steps} steps per attempt", file=sys.stderr)
    from .runlog import attempts_as_runs, open_log
    note = lambda text: print(f"note: {text}", file=sys.stderr)  # noqa: E731
    watch = attempts_as_runs(None if args.no_record else open_log(note), "cli", args.texture, note)

    result = search(device, image, preset, target, mlp_path=args.mlp, limit=args.max_candidates, progress=report,
                    watch=watch)
    best = result.best
    if not result.reached:
        print(f"no network of the family reached {target:.2f} dB in {preset.training.steps} steps; the best, "
              f"{describe(best.preset)} at {best.quality.psnr:.2f} dB, is the result", file=sys.stderr)
    stats = {"steps": best.steps, "samples": best.samples, "psnr": best.quality.psnr, "ssim": best.quality.ssim,
             "flip": best.quality.flip, "train_seconds": best.seconds, "bits_per_pixel": best.bits_per_pixel,
             "target_psnr": target, "target_reached": result.reached}
    if args.out:
        save_weights(args.out, WeightsFile(best.preset, best.parameters, (w, h), best.preset.training.transform,
                                           stats))
        print(f"wrote weights {args.out}", file=sys.stderr)
    if args.preview:
        trainer = Trainer(device, image, best.preset, mlp_path=args.mlp)
        trainer.set_parameters(best.parameters)
        save_image(args.preview, trainer.prediction(eight_bit=True))
        print(f"wrote preview {args.preview}", file=sys.stderr)
    rate = best.samples / best.seconds if best.seconds > 0 else 0.0
    print(f"psnr={best.quality.psnr:.2f} samples_per_s={rate:.0f} steps={best.steps} seconds={best.seconds:.2f} "
          f"ssim={best.quality.ssim:.4f} flip={best.quality.flip:.4f} target_psnr={target:.2f} "
          f"bits_per_pixel={best.bits_per_pixel:.4f}")
    return 0


def _recorder(trainer, texture: str):
    """A Recorder of this run into the experiment log, or None (after one note) when there is no log."""
    from .runlog import Recorder, open_log
    note = lambda text: print(f"note: {text}", file=sys.stderr)  # noqa: E731
    log = open_log(note)
    if log is None:
        return None
    recorder = Recorder(log, "cli", note)
    recorder.start(trainer, texture)
    return recorder if recorder.active else None


def _train_loop(trainer, steps: int, recorder) -> None:
    # Progress PSNR on a bounded view (a subsample of large textures); full resolution only at the end.
    psnr = trainer.progress_psnr()
    chunk = max(1, min(64, steps // 50 or 1))
    next_psnr = 0
    while trainer.step < steps:
        trainer.train(min(chunk, steps - trainer.step))
        trainer.check_finite()
        if recorder is not None:
            recorder.add("loss", trainer.step, trainer.train_seconds, trainer.last_loss())
        if trainer.step >= next_psnr or trainer.step == steps:
            psnr = trainer.progress_psnr()
            next_psnr = trainer.step + max(1, steps // 10)
            if recorder is not None:
                recorder.add("psnr", trainer.step, trainer.train_seconds, psnr)
        if recorder is not None:
            recorder.update()
        _progress(trainer, steps, psnr)
    print(file=sys.stderr)


def _progress(trainer, steps: int, psnr: float) -> None:
    width = 30
    done = int(width * trainer.step / steps)
    rate = trainer.samples_seen / max(trainer.train_seconds, 1e-9)
    scale = ""
    if trainer.network.half:  # float16: the loss scale and the steps skipped for non-finite gradients
        value, skipped = trainer.loss_scale_state()
        scale = f"scale {value:g} skipped {skipped} "
    sys.stderr.write(f"\r[{'#' * done}{'.' * (width - done)}] {trainer.step}/{steps} loss {trainer.last_loss():.5f} "
                     f"PSNR {psnr:.2f} dB {rate / 1e3:.0f}k samples/s {scale}")
    sys.stderr.flush()


def cmd_infer(args) -> int:
    from .device import create_device
    from .limits import check_device_request
    from .texture import parse_size, save_image
    from .trainer import Trainer

    if args.run is not None:
        from .runlog import RunLog, parse_run_id
        log = RunLog()
        args.weights = str(log.weights_path(parse_run_id(args.run)))
        log.close()
    weights = _load_network(args.weights, args)
    size = parse_size(args.size) if args.size else weights.texture_size
    if not all(size):
        raise StudioError(f"{args.weights} does not record a texture size; pass --size WxH")
    if not Path(args.out).resolve().parent.is_dir():
        raise StudioError(f"cannot write {args.out}: its folder does not exist")
    device = create_device()
    check_device_request(device, weights.preset, args.mlp, views=(tuple(size),))
    trainer = Trainer(device, None, weights.preset, mlp_path=args.mlp)
    trainer.set_parameters(weights.parameters)
    save_image(args.out, trainer.prediction(tuple(size), eight_bit=True))
    print(f"wrote {args.out} ({size[0]}x{size[1]})", file=sys.stderr)
    return 0


def cmd_export(args) -> int:
    from .formats import export_weights
    weights = _load_network(args.weights, args)
    written = export_weights(weights, args.format, args.out, layout=args.layout, round_float16=args.round_float16,
                             arrays=args.arrays, shader_weights=args.shader_weights)
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0


def cmd_compare(args) -> int:
    from .codecs import rows_to_csv
    from .compare import common_transform, compare_rows
    from .rd_figure import write_figure
    from .texture import load_image, parse_size

    if not args.out.lower().endswith(".png"):
        raise StudioError(f"--out {args.out} must be a .png file")
    for target in (args.out, args.csv):
        if target and not Path(target).resolve().parent.is_dir():
            raise StudioError(f"cannot write {target}: its folder does not exist")
    image = load_image(args.texture, parse_size(args.size) if args.size else None)
    weights = {}
    for path in args.weights:
        name = Path(path).name
        if name in weights:
            raise StudioError(f"two networks are named {name}; give them different file names")
        weights[name] = _load_network(path, args)
    transform = common_transform(list(weights.values()), args.transform)
    h, w = image.shape[:2]
    for name, net in weights.items():
        if tuple(net.texture_size) not in ((w, h), (0, 0)):
            print(f"note: {name} was trained on a {net.texture_size[0]}x{net.texture_size[1]} texture; it is "
                  f"rendered at {w}x{h}", file=sys.stderr)
    device = None
    if weights:
        from .device import create_device
        device = create_device()
    rows = compare_rows(device, image, weights, transform, mlp_path=args.mlp,
                        progress=lambda text: sys.stderr.write(f"\rmeasured {text}   "))
    print(file=sys.stderr)
    title = f"{Path(args.texture).name} ({w}x{h}, transform {transform})"
    write_figure(args.out, rows, title)
    print(f"wrote figure {args.out}", file=sys.stderr)
    table = rows_to_csv(rows)
    if args.csv:
        from .atomic import atomic_write
        atomic_write(args.csv, table.encode())
        print(f"wrote table {args.csv}", file=sys.stderr)
    sys.stdout.write(table)
    return 0
