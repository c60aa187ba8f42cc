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
    inputs = {}
    # An edit's --image is the reference to put in; otherwise it is the first frame.
    names = {"image": "reference" if task == Task.EDIT else "image", "video": "video"}
    for option, name in names.items():
        if getattr(args, option):
            inputs.update(decode_input(name, Path(getattr(args, option)).read_bytes()))
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
    data = encode_mp4(out.frames, out.fps)
    sound = sound_source(job, inputs)
    if sound is not None:
        data = add_sound(data, sound, out.num_frames / out.fps)
    Path(args.out).write_bytes(data)
    print(f"wrote {args.out}: {out.width}x{out.height}, {out.num_frames} frames at {out.fps} fps "
          f"({out.num_frames / out.fps:.2f} s), seed {out.seed}, model {spec.label}")
    if out.edit_region is not None:
        segmenter = renderer.segmenter
        how = f" (masked by {segmenter.label})" if segmenter and out.edit_region != WHOLE_FRAME else ""
        print(f"edited: {out.edit_region}{how}" + ("; kept the source's sound" if sound is not None else ""))
    return 0
