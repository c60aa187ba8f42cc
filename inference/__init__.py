"""Reelbot's models: loading, speed knobs, rendering and video encoding.

The models themselves are plain data in `core.catalog`. Import `inference.render`
(Renderer, RenderInput), `inference.knobs`, `inference.loading`, `inference.tiny`,
`inference.fullsize` or `inference.encode` where torch, diffusers or PyAV are wanted.
inference/README.md has the models, the flag mapping and the knobs.
"""
