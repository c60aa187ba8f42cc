"""`reelbot render`: one clip in this process, with a progress bar; no queue, no database."""

from __future__ import annotations

import sys
from pathlib import Path

from core.catalog import Task
from core.settings import Settings


def _task(args) -> Task:
    if args.task:
        return Task(args.task)
    if args.video:
        return Task.VIDEO_TO_VIDEO
    if args.image:
        return Task.IMAGE_TO_VIDEO
    return Task.TEXT_TO_VIDEO


def render_to_file(settings: Settings, args) -> int:
    from tqdm import tqdm

    from core.flags import FlagError, parse_prompt
    from core.jobs import new_job
    from inference.encode import add_sound, encode_mp4
    from core.contract import WHOLE_FRAME
    from core.catalog import MODELS, UnknownModel, get_model
    from inference.render import UnsupportedTask
    from worker.inputs import decode_input, render_input, sound_source
    from worker.runtime import check_model_settings, load_renderer, load_segmenter, pick_device

    parsed = parse_prompt(args.prompt, max_prompt_chars=settings.max_prompt_chars, models=list(MODELS))
    if isinstance(parsed, FlagError):
        print(f"error: {parsed}", file=sys.stderr)
        return 2
    model = args.model or parsed.flags.model or settings.model
    try:
        spec = get_model(model)
    except UnknownModel as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    task = _task(args)
    if task == Task.LIP_SYNC and not (args.audio or args.text) or (args.audio and args.text):
        print("error: lip-sync needs --audio FILE or --text WORDS (one of the two)", file=sys.stderr)
        return 2
    if (args.audio or args.text) and task != Task.LIP_SYNC:
        print("error: --audio and --text go with --task lip-sync", file=sys.stderr)
        return 2
    if parsed.flags.sound and not spec.sound:
        makers = ", ".join(name for name, other in MODELS.items() if other.sound)
        print(f"error: {model} makes silent clips, so -sound can't be done; models that make sound: {makers}",
              file=sys.stderr)
        return 2
    inputs = {}
    # An edit's --image is the reference to put in; otherwise it is the first frame (or a face).
    names = {"image": "reference" if task == Task.EDIT else "image", "video": "video", "audio": "audio"}
    for option, name in names.items():
        if getattr(args, option):
            try:
                inputs.update(decode_input(name, Path(getattr(args, option)).read_bytes()))
            except Exception as exc:  # noqa: BLE001 — a missing or unreadable file is the operator's to fix
                print(f"error: cannot read --{option} {getattr(args, option)}: {exc}", file=sys.stderr)
                return 2
    if args.text:
        inputs.update(decode_input("speech", args.text.encode()))
    job = new_job(parsed, model=model, task=task)

    check_model_settings(settings)
    device = pick_device(settings.device)
    renderer = load_renderer(settings, model, device, warm_up=False,
                             segmenter=load_segmenter(settings, device, [model]))
    with tqdm(desc="rendering", unit="step", file=sys.stderr) as bar:
        def on_step(step: int, total: int) -> None:
            bar.total = total
            bar.update(step - bar.n)

        try:
            out = renderer.render(render_input(job, inputs, settings.model_steps.get(model)), on_step)
        except UnsupportedTask as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    sound = None if out.audio is not None else sound_source(job, inputs)
    track = {} if out.audio is None else {"audio": out.audio.samples, "audio_rate": out.audio.rate}
    data = encode_mp4(out.frames, out.fps, **track)
    if sound is not None:
        data = add_sound(data, sound, out.num_frames / out.fps)
    Path(args.out).write_bytes(data)
    heard = (f", sound at {out.audio.rate} Hz" if out.audio is not None
             else ", the source's sound" if sound is not None else ", silent")
    print(f"wrote {args.out}: {out.width}x{out.height}, {out.num_frames} frames at {out.fps} fps "
          f"({out.num_frames / out.fps:.2f} s){heard}, seed {out.seed}, model {spec.label}")
    if out.edit_region is not None:
        segmenter = renderer.segmenter
        how = f" (masked by {segmenter.label})" if segmenter and out.edit_region != WHOLE_FRAME else ""
        print(f"edited: {out.edit_region}{how}" + ("; kept the source's sound" if sound is not None else ""))
    return 0
