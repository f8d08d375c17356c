"""`phazelab experiment forum`: argument parsing and console output around the forum study."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from typing import Any

from .study_config import TOPOLOGIES

__all__ = ["forum_main", "identity_main", "register", "study_from_args", "swap_main"]

def _words(values: list[str] | None) -> list[str]:
    return [w for v in values or [] for w in v.replace(",", " ").split() if w]


def register(subparsers: Any) -> None:
    """Add `experiment forum` to an argparse subparsers object."""
    exp = subparsers.add_parser("experiment", help="run a measured study (forum: load/freeze strategies)",
                                description="Studies that answer questions with measurements.")
    studies = exp.add_subparsers(dest="experiment", required=True, metavar="STUDY")
    sw = studies.add_parser(
        "swap", help="train A+B with the lab's swap recipe until the swap judge says it swaps; save the model",
        description="Train identity A (side A) and B (side B) of the synthetic world on face banks with the "
                    "lab's recipe, judge the held-out A→B and B→A swaps every eval_every steps of the recipe (identity "
                    "among the world's identities and distractors, pose error), beside the judge's baselines. "
                    "OUT/model is the trained model (fp16, meta.json with the recipe, this command and the "
                    "judge's numbers); OUT/checkpoints lets the same command resume. This is how the "
                    "stage-1 models in data/models are made.")
    sw.add_argument("--out", required=True, help="run folder (resumed when it holds the same recipe)")
    from .swap import RECIPES

    sw.add_argument("--recipe", default="cpu", choices=tuple(RECIPES),
                    help="a recipe of phazelab.experiments.swap.RECIPES: cpu (the hard world's matched "
                    "pair, split decoders), cpu-default-topology, cpu-distinct (the default world's pair "
                    "0/1); default cpu")
    sw.add_argument("--topology", choices=("default", "split_decoders"), help="override the recipe's topology")
    sw.add_argument("--steps", type=int, help="override the recipe's step budget (and cosine horizon)")
    sw.add_argument("--seed", type=int, help="override the recipe's seed (weights, bank frames, data order)")
    sw.add_argument("--keep-going", action="store_true",
                    help="train the whole budget even after the swap succeeds (default: stop there)")
    sw.add_argument("--max-seconds", type=float, help="stop after this much training time (resume later)")
    sw.add_argument("--stop-at-step", type=int, metavar="N",
                    help="end the run at step N (the recipe, and so the weights up to N, are unchanged)")
    sw.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    sw.add_argument("--ship", metavar="DIR", help="also copy the final model folder to DIR (e.g. data/models/NAME)")
    sw.add_argument("--json", action="store_true", help="print the result as one JSON object")
    sw.set_defaults(func=swap_main)
    idn = studies.add_parser(
        "identity", help="where identity lives per block, against nulls (pixels, untrained), with patching",
        description="For the trained A+B model of each topology (data/models): the swap-quality gate, the "
                    "per-block identity table on the default and the hard (geometry-only) identities with "
                    "raw-pixel, pooled-pixel, mean-colour and untrained-model rows, identity verification on "
                    "never-seen identities, activation patching of the swap, and debiased CKA with its null. "
                    "Writes OUT/identity.json; --readme replaces the README's marked section.")
    idn.add_argument("--quick", action="store_true", help="small sizes (about a minute on a CPU; rough numbers)")
    idn.add_argument("--topology", action="append", choices=("default", "split_decoders"),
                     help="topology to measure (repeatable; default both)")
    idn.add_argument("--out", default="runs/identity", help="output folder (default runs/identity)")
    idn.add_argument("--json", action="store_true", help="print the result as one JSON object")
    idn.add_argument("--other-seed", action="append", metavar="TOPOLOGY=DIR", default=[],
                     help="a model of the same recipe trained from another seed (e.g. made by `phazelab "
                     "experiment swap --seed 1`): the second CKA null, trained vs trained")
    idn.add_argument("--readme", metavar="FILE", help="write the report into FILE's identity-nulls section")
    idn.set_defaults(func=identity_main)
    f = studies.add_parser(
        "forum", help="a1+b1 → a2+b1: which blocks to load, frozen, trainable or kickstarted",
        description="Stage 1: an a1+b1 model that passed the swap gate (the shipped data/models/<topology>, or "
                    "trained here with --train-stage1). Stage 2: a2+b1 from it under each arm (strategy × "
                    "mode), paired over replicates (a2 identities × seeds). Measures the judge's swap success "
                    "both ways, side B's quality, censored time to gate, placebo-controlled a1 leakage and "
                    "CKA/drift against stage 1; answers the forum's three questions by fixed rules. Writes "
                    "OUT/results.json (with \"answers\"), results.csv, arms.csv, answers.md, report.html. "
                    "Finished runs in OUT are reused: the same command resumes.")
    f.add_argument("--quick", action="store_true",
                   help="≤ 10 min on a 2-core CPU: the shipped split_decoders stage 1, arms scratch, "
                        "encoder@frozen and all (the positive control), 2 replicates, 200 steps; it says which "
                        "questions it cannot answer")
    f.add_argument("--out", help="output folder (default runs/forum, with --quick runs/forum-quick)")
    f.add_argument("--topology", action="append", choices=tuple(TOPOLOGIES),
                   help="topology (repeatable; default split_decoders and default; quick split_decoders)")
    f.add_argument("--stage1-from", metavar="DIR",
                   help="folder with one gated stage-1 model per topology (default data/models)")
    f.add_argument("--train-stage1", action="store_true",
                   help="train stage 1 here with the lab's swap recipe, stopping at the gate (hours on a CPU)")
    f.add_argument("--stage1-steps", type=int, help="with --train-stage1: at most this many steps (default 20000)")
    f.add_argument("--strategies", nargs="+", metavar="S[:MODE]",
                   help="strategies (scratch encoder encoder+fc_b encoder+fc_b+gblock all_but_a all), each "
                        "with all its modes, or STRATEGY:MODE (modes trainable frozen kickstart); scratch "
                        "is added as the reference unless --no-scratch (default: the full arm set, "
                        "study_config.ARMS)")
    f.add_argument("--no-scratch", action="store_true",
                   help="with --strategies: do not add scratch (Q3 compares encoder@frozen with the positive "
                        "control only)")
    f.add_argument("--a2-towards", type=int, nargs="+", metavar="ID",
                   help="replicates: a2 = a1 moved towards each of these never-trained identities (default 2 3 4)")
    f.add_argument("--a2-distance", type=float, metavar="D", help="how far a2 moves from a1 (0..1], default 0.5")
    f.add_argument("--seeds", type=int, help="stage-2 seeds per a2 (default 1)")
    f.add_argument("--steps", type=int, help="stage-2 steps per run (default 1600; quick 200)")
    f.add_argument("--kickstart", type=int, metavar="K", help="kickstart: unfreeze at step K (default steps/4)")
    f.add_argument("--eval-every", type=int, metavar="M", help="judge every M steps (default 200; quick 100)")
    f.add_argument("--eval-n", type=int, metavar="N", help="evaluation frames per side (default 32; quick 24)")
    f.add_argument("--placebos", type=int, metavar="P", help="placebo identities per replicate (default 6)")
    f.add_argument("--max-minutes", type=float, metavar="M",
                   help="start no new run after M minutes; the same command later resumes (for time-limited "
                        "machines)")
    f.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    f.add_argument("--threads", type=int, metavar="N",
                   help="torch CPU threads (default torch's; on a busy shared CPU 1 thread can be several "
                        "times faster than 2)")
    f.add_argument("--quiet", action="store_true", help="no progress lines")
    f.add_argument("--readme", metavar="FILE",
                   help="also write the answers and arm tables into FILE (e.g. README.md) between "
                        "<!-- forum-study:begin/end --> markers (forum-study-quick with --quick)")
    f.set_defaults(func=forum_main)


def _runs(words: list[str], scratch: bool = True) -> tuple[tuple[str, str], ...]:
    from .forum import MODES, STRATEGIES, StudyError

    runs: list[tuple[str, str]] = [("scratch", "trainable")] if scratch else []
    for word in words:
        strategy, _, mode = word.partition(":")
        if strategy not in STRATEGIES:
            raise StudyError(f"--strategies: unknown strategy {strategy!r}; choose from {list(STRATEGIES)}")
        if mode and mode not in MODES:
            raise StudyError(f"--strategies: unknown mode {mode!r} in {word!r}; choose from {list(MODES)}")
        modes = [mode] if mode else (["trainable"] if strategy == "scratch" else list(MODES))
        runs += [(strategy, m) for m in modes if (strategy, m) not in runs]
    return tuple(runs)


def study_from_args(args: argparse.Namespace) -> Any:
    """The StudyConfig that the command line asks for."""
    from .forum import StudyConfig

    changes: dict[str, Any] = {}
    if args.topology:
        changes["topologies"] = tuple(dict.fromkeys(args.topology))
    if args.train_stage1:
        changes["stage1_from"] = None
    elif args.stage1_from:
        changes["stage1_from"] = args.stage1_from
    if args.strategies:
        changes["runs"] = _runs(_words(args.strategies), scratch=not args.no_scratch)
    for arg, name in (("seeds", "seeds"), ("steps", "stage2_steps"), ("stage1_steps", "stage1_steps"),
                      ("kickstart", "kickstart"), ("eval_every", "eval_every"), ("eval_n", "eval_n"),
                      ("placebos", "n_placebos"), ("a2_distance", "a2_distance")):
        if getattr(args, arg) is not None:
            changes[name] = getattr(args, arg)
    if args.a2_towards:
        changes["a2_towards"] = tuple(args.a2_towards)
    if args.eval_n is not None:
        changes["cka_n"] = args.eval_n
    return StudyConfig.quick_settings(**changes) if args.quick else StudyConfig(**changes)


def forum_main(args: argparse.Namespace) -> int:
    """Run `phazelab experiment forum`; 0 = done (or stopped by --max-minutes: run again), 2 = bad input."""
    from ..config import ConfigError
    from ..weights import BlockError, ModelFileError
    from .forum import StudyError, run_study
    from .report import answers_markdown, write_outputs

    t0 = time.perf_counter()
    ticking = [False]  # a counter line is open on the terminal (no newline after it yet)

    def say(msg: str) -> None:
        from .forum import TICK

        if args.quiet:
            return
        if msg.startswith(TICK):  # a step counter: in place on a terminal, left out of a log file
            if sys.stdout.isatty():  # \x1b[K clears what a longer previous counter left
                print(f"\r[{time.perf_counter() - t0:7.1f} s] {msg[len(TICK):]}\x1b[K", end="", flush=True)
                ticking[0] = True
            return
        if ticking[0]:
            print(flush=True)  # the counter's line ends before the next message
            ticking[0] = False
        print(f"[{time.perf_counter() - t0:7.1f} s] {msg}", flush=True)

    try:
        if args.threads is not None:
            if args.threads < 1:
                raise ValueError(f"--threads must be ≥ 1, got {args.threads}")
            import torch

            torch.set_num_threads(args.threads)
        if args.max_minutes is not None and not args.max_minutes > 0:
            raise ValueError(f"--max-minutes must be > 0, got {args.max_minutes}")
        study = study_from_args(args)
        out = args.out or ("runs/forum-quick" if study.quick else "runs/forum")
        say(f"forum study → {out}: topologies {', '.join(study.topologies)}; {len(study.runs)} arms × "
            f"{len(study.replicates)} replicates × {study.stage2_steps} steps; stage 1 from "
            f"{study.stage1_from or 'training here (swap recipe)'}")
        results = run_study(study, out, device=args.device, progress=say, write=False,
                            max_seconds=None if args.max_minutes is None else 60 * args.max_minutes)
    except (StudyError, ConfigError, BlockError, ModelFileError, FileNotFoundError, ValueError) as exc:
        print(f"phazelab experiment forum: error: {exc}", file=sys.stderr)
        return 2
    results["command"] = "phazelab " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    paths = write_outputs(results, out)
    if args.readme and results["complete"]:
        from ..markdown import replace_marked
        from .report import markdown_section

        try:
            replace_marked(args.readme, "forum-study-quick" if study.quick else "forum-study",
                           markdown_section(results))
        except (OSError, ValueError) as exc:
            print(f"phazelab experiment forum: error: --readme {args.readme}: {exc} (results are saved in {out})",
                  file=sys.stderr)
            return 2
    if not args.quiet:
        print(answers_markdown(results))
        if not results["complete"]:
            print(f"stopped after --max-minutes {args.max_minutes:g}: run the same command again to resume")
        print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def swap_main(args: argparse.Namespace) -> int:
    """`phazelab experiment swap`: one judged swap run; exit 0 when it ran (swapped or not), 2 on bad input."""
    import json

    from .swap import RECIPES, run_swap

    if args.recipe not in RECIPES:
        print(f"phazelab experiment swap: error: unknown recipe {args.recipe!r}; choose from {list(RECIPES)}",
              file=sys.stderr)
        return 2
    recipe = RECIPES[args.recipe]
    changes = {k: v for k, v in (("topology", args.topology), ("steps", args.steps), ("seed", args.seed))
               if v is not None}
    try:
        result = run_swap(recipe.replace(**changes), args.out, device=args.device,
                          stop_at_success=not args.keep_going, max_seconds=args.max_seconds,
                          stop_at_step=args.stop_at_step,
                          progress=not args.json, command="phazelab " + shlex.join(sys.argv[1:]))
    except ValueError as exc:
        print(f"phazelab experiment swap: error: {exc}", file=sys.stderr)
        return 2
    if args.ship:
        import shutil

        from ..weights import atomic_dir

        with atomic_dir(args.ship) as tmp:
            shutil.copytree(f"{args.out}/model", tmp, dirs_exist_ok=True)
    if args.json:
        from .measures import clean_json

        print(json.dumps(clean_json(result)))
        return 0
    f = result["final"]
    first = next((r for r in result["curve"] if r["step"] == result["steps_to_success"]), None)
    state = (f"swap success first ≥ {recipe.target} at step {result['steps_to_success']} "
             f"({first['success_ab']:.2f}); at the end, step {result['steps']}: {f['success_ab']:.2f}"
             if result["reached"] and first else
             f"swap success {f['success_ab']:.2f} < {recipe.target}: not trained enough")
    c = result.get("confirm")
    if c:
        state += (f"\n  on {c['n']} fresh held-out frames (another seed): success {c['success']:.2f} "
                  f"(B mean face {c['baselines']['mean_face_b']['success']:.2f}, copy of A "
                  f"{c['baselines']['copy_a']['success']:.2f})")
    base = result["baselines"]["a_to_b"]
    print(f"{state} ({result['steps']} steps, {result['train_seconds']:.0f} s of training on {result['device']})\n"
          f"  A→B: identity top-1 {f['id_top1_ab']:.2f} (chance {f['chance']:.2f}), pose error "
          f"{f['pose_err_ab']:.1f}°; B→A success {f['success_ba']:.2f}; face recon SSIM A {f['recon_ssim_a']:.3f}, "
          f"B {f['recon_ssim_b']:.3f}\n  baselines (A→B success): "
          + ", ".join(f"{k} {v['success']:.2f}" for k, v in base.items())
          + f"\n  model: {args.out}/model")
    return 0


def identity_main(args: argparse.Namespace) -> int:
    """`phazelab experiment identity`: prints the report (or --json), writes OUT/identity.json."""
    import json

    from ..lab import MODELS_DIR
    from ..markdown import replace_marked
    from ..weights import load_model, read_meta
    from .identity import IdentityStudy, markdown_report, run_identity, write_outputs
    from .measures import clean_json

    topologies = tuple(args.topology or ("default", "split_decoders"))
    study = IdentityStudy.quick(topologies=topologies) if args.quick else IdentityStudy(topologies=topologies)
    try:
        other, other_info = {}, {}
        for item in args.other_seed:
            topology, sep, path = item.partition("=")
            if not sep or topology not in topologies or not path:
                raise ValueError(f"--other-seed {item!r}: expected TOPOLOGY=DIR with TOPOLOGY one of "
                                 f"{list(topologies)}")
            if topology in other:
                raise ValueError(f"--other-seed: {topology} given twice")
            try:
                other[topology] = load_model(path).float()
            except (OSError, ValueError) as exc:
                raise ValueError(f"--other-seed {item!r}: {exc} (give a model folder, e.g. a swap run's OUT/model)"
                                 ) from None
            twin_meta = read_meta(path)
            seeds = (twin_meta.get("recipe", {}).get("seed"),
                     read_meta(MODELS_DIR / topology).get("recipe", {}).get("seed"))
            if seeds[0] is None or seeds[0] == seeds[1]:
                raise ValueError(f"--other-seed {item!r}: its meta.json records seed {seeds[0]}, the measured "
                                 f"model's is {seeds[1]}: the null needs the same recipe from another seed")
            other_info[topology] = {"path": path, "seed": seeds[0], "step": twin_meta.get("step")}
        result = run_identity(study, progress=not args.json, other_seed=other)
        result["other_seed"] = other_info
    except (FileNotFoundError, ValueError) as exc:
        print(f"phazelab experiment identity: error: {exc}", file=sys.stderr)
        return 2
    path = write_outputs(result, args.out)
    report = markdown_report(result, "phazelab " + shlex.join(sys.argv[1:]))
    if args.readme:
        try:
            replace_marked(args.readme, "identity-nulls", report)
        except (OSError, ValueError) as exc:
            print(f"phazelab experiment identity: error: --readme {args.readme}: {exc} (results are in {path})",
                  file=sys.stderr)
            return 2
    print(json.dumps(clean_json(result)) if args.json else f"{report}\n\nwritten: {path}")
    return 0
