"""The image-safety check's shared terms: which classifier a deployment runs, and what
members are told. The check itself runs on the worker (worker/safety.py over
inference/safety.py), never in the bot, which imports no torch: the bot passes whether the
channel is age-restricted (`RenderJob.age_restricted`) and posts what the outcome says.

What happens to what is flagged (PRODUCT.md, "Safety"):
- an attachment (an image, frames of a video): the job fails before the render, so
  nothing reaches the GPU; in an age-restricted channel too: nothing is rendered from a
  member's explicit upload.
- the finished clip, for an ordinary channel or a DM (a `-private` clip goes to a DM):
  not stored, not posted; its author is told privately.
- the finished clip, for an age-restricted channel: posted there, marked, and kept out of
  the web gallery, /gallery and the showcase.

Every flag is an audit entry (core/audit.py) for the server's moderators.
"""

from __future__ import annotations

from core.catalog import MODELS

# An NSFW detector (ViT, labels "normal" / "nsfw"): the classifier a real deployment runs.
DEFAULT_CLASSIFIER = "Falconsai/nsfw_image_detection"
# A random-weight classifier built locally (inference/safety.py), for tests and offline runs.
TEST_CLASSIFIER = "safety-tiny"
TEST_LABEL = "a random-weight test classifier: its verdicts mean nothing"

FLAGGED_INPUT = ("The image-safety check flagged your {what}, so nothing was rendered. "
                 "Try another picture.")
WITHHELD = ("Your clip `{clip_id}` was made, but the image-safety check flagged it, so it was not posted "
            "and is not kept. Clips like this can be posted only in age-restricted channels.")


def classifier(settings, models: list[str]) -> str | None:
    """The classifier's hub id or folder (TEST_CLASSIFIER: built locally) for a process
    serving `models`; None when the check is off. Unless REELBOT_SAFETY_MODEL names one, a
    process whose models are all tiny test models (clips of noise, an offline machine) gets
    the test classifier, anything else the real one: a worker asks for what it serves, the
    bot for the deployment's catalog."""
    if not settings.safety_check:
        return None
    if settings.safety_model:
        return settings.safety_model
    specs = [MODELS.get(name) for name in models]
    return TEST_CLASSIFIER if all(spec is not None and spec.tiny for spec in specs) else DEFAULT_CLASSIFIER


def describe(settings) -> str:
    """The /help paragraph: what is checked, or that nothing is."""
    source = classifier(settings, settings.catalog_models)
    report = "Report a clip with Apps → Report clip."
    if source is None:
        return f"The operator turned the image-safety check off: nothing is checked. {report}"
    test = f" ({TEST_LABEL})" if source == TEST_CLASSIFIER else ""
    return (f"An image-safety check looks at attachments and finished clips{test}. A flagged attachment "
            f"is refused; a flagged clip is posted only in age-restricted channels, never in the galleries. {report}")
