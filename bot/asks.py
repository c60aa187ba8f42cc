"""What a model can do with an order beyond its task: an effect, a camera LoRA move, a loop,
more than two keyframes. Catalog data only, so the bot refuses at once (privately, with the
models that can) what no worker could render, and, when the member named no model, picks a
model of the deployment that can (as /edit and /lipsync do)."""

from __future__ import annotations

from collections.abc import Iterable

from bot import messages
from core.catalog import AdapterKind, ModelSpec, Task
from core.flags import LORA_MOVES, Flags


def beyond_task(flags: Flags, pictures: int) -> bool:
    """Whether the order asks for anything beyond its task."""
    return bool(flags.effect or flags.loop or flags.camera in LORA_MOVES or pictures > 2)


def lacks(spec: ModelSpec, task: Task, flags: Flags, pictures: int) -> str | None:
    """Why `spec` cannot render the order as asked ("effect", "camera", "loop", "keyframes"), or
    None when it can."""
    if flags.effect and not spec.adapter(AdapterKind.EFFECT, flags.effect, task):
        return "effect"
    if flags.camera in LORA_MOVES and not spec.adapter(AdapterKind.CAMERA, flags.camera, task):
        return "camera"
    if flags.loop and not spec.loops(task):
        return "loop"
    if task == Task.KEYFRAMES and pictures > spec.keyframes_max:
        return "keyframes"
    return None


def refusal(reason: str, model: str, task: Task, flags: Flags, pictures: int,
            catalog: Iterable[ModelSpec]) -> str:
    """The member's refusal for `lacks`' reason, with the models of the deployment that can."""
    catalog = list(catalog)
    capable = [spec.name for spec in catalog if task in spec.tasks and lacks(spec, task, flags, pictures) is None]
    if reason == "effect":
        tasks = sorted({t for spec in catalog if (found := spec.adapter(AdapterKind.EFFECT, flags.effect))
                        for t in found.tasks})
        return messages.effect_refused(model, flags.effect, task.value, tasks, capable)
    if reason == "camera":
        return messages.camera_lora_refused(model, flags.camera, capable)
    if reason == "loop":
        return messages.loop_refused(model, task.value, capable)
    return messages.keyframes_refused(model, pictures, capable)
