"""How each simulated node class behaves: what it outputs, what it costs, what it reports.

A behaviour is an async function ``(ctx, inputs) -> NodeResult``. It spends
simulated time through ``ctx.spend``, reports progress through ``ctx.progress``
(which is also where an interrupt lands, as with ComfyUI's ProgressBar hook),
and writes files through ``ctx.files``. Classes without a behaviour here run as
:func:`generic`, so a full ``/object_info`` still executes.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from PIL import Image

from sweeps.schema import NodeSchema
from sweeps.simulator.config import SimConfig
from sweeps.simulator.files import FileStore
from sweeps.simulator.images import colour_from, encode_png, gradient, mix_colour
from sweeps.simulator.memory import ModelMemory
from sweeps.simulator.values import Conditioning, Latent, Model, Opaque, Picture

__all__ = ["BEHAVIOURS", "NodeContext", "NodeResult", "behaviour_for", "generic"]


@dataclass(frozen=True)
class NodeResult:
    outputs: tuple[Any, ...]
    ui: dict[str, Any] | None = None


class NodeContext(Protocol):
    """What the executor offers a running node."""

    node_id: str
    class_type: str
    prompt: Mapping[str, Any]
    extra_data: Mapping[str, Any]
    config: SimConfig
    files: FileStore
    memory: ModelMemory
    schema: NodeSchema
    previews: bool
    temp_prefix: str

    async def spend(self, ms: float) -> None: ...

    async def progress(
        self,
        value: int,
        total: int,
        preview: Image.Image | None = None,
        preview_format: Literal["JPEG", "PNG"] = "JPEG",
    ) -> None: ...

    def send_text(self, text: str) -> None: ...


Behaviour = Callable[[NodeContext, dict[str, Any]], Awaitable[NodeResult]]


def _fp(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


async def generic(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    """Any class: one opaque value per declared output, derived from the inputs."""
    await ctx.spend(ctx.config.costs.base_ms(ctx.class_type))
    fp = _fp(ctx.class_type, sorted((k, str(v)) for k, v in inputs.items()))
    images = [v for v in inputs.values() if isinstance(v, Picture)]
    outputs: list[Any] = []
    for index, type_ in enumerate(ctx.schema.outputs):
        if type_ in ("IMAGE", "MASK") and images:
            src = images[0]
            colour = colour_from(fp, index)
            outputs.append(Picture(src.width, src.height, src.batch, colour, src.colour, type_))
        elif type_ == "INT":
            outputs.append(int(fp[:6], 16))
        elif type_ == "FLOAT":
            outputs.append(int(fp[:6], 16) / 0xFFFFFF)
        elif type_ == "STRING":
            outputs.append(fp)
        elif type_ == "BOOLEAN":
            outputs.append(int(fp[0], 16) % 2 == 0)
        else:
            outputs.append(Opaque(type_, fp))
    return NodeResult(tuple(outputs))


# ----- sources


async def empty_image(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    await ctx.spend(ctx.config.costs.base_ms(ctx.class_type))
    return NodeResult((Picture(i["width"], i["height"], i["batch_size"], i["color"]),))


async def empty_latent(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    await ctx.spend(ctx.config.costs.base_ms(ctx.class_type))
    return NodeResult((Latent(i["width"], i["height"], i["batch_size"]),))


async def load_image(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    await ctx.spend(ctx.config.costs.base_ms(ctx.class_type))
    path = ctx.files.annotated_path(str(i["image"]))
    data = path.read_bytes()
    with Image.open(path) as img:
        width, height = img.size
    colour = colour_from("file", hashlib.sha256(data).hexdigest())
    image = Picture(width, height, 1, colour)
    mask = Picture(width, height, 1, 0, None, "MASK")
    if ctx.class_type == "LoadImageMask":
        return NodeResult((mask,))
    return NodeResult((image, mask))


async def checkpoint_loader(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    ckpt = str(i["ckpt_name"])
    ms = ctx.config.costs.base_ms(ctx.class_type)
    if ctx.memory.load(ckpt):
        ms += ctx.config.costs.checkpoint_load_ms
    await ctx.spend(ms)
    fp = _fp("ckpt", ckpt)
    return NodeResult((Model("MODEL", ckpt, fp), Model("CLIP", ckpt, fp), Model("VAE", ckpt, fp)))


async def vae_loader(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    await ctx.spend(ctx.config.costs.base_ms(ctx.class_type))
    return NodeResult((Model("VAE", None, _fp("vae", i["vae_name"])),))


async def lora_loader(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    await ctx.spend(ctx.config.costs.base_ms(ctx.class_type))
    model, clip = i["model"], i["clip"]
    fp = _fp("lora", i["lora_name"], i["strength_model"], i["strength_clip"])
    return NodeResult(
        (
            Model(
                "MODEL", getattr(model, "ckpt", None), _fp(getattr(model, "fingerprint", ""), fp)
            ),
            Model("CLIP", getattr(clip, "ckpt", None), _fp(getattr(clip, "fingerprint", ""), fp)),
        )
    )


async def clip_text_encode(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    await ctx.spend(ctx.config.costs.base_ms(ctx.class_type))
    return NodeResult((Conditioning(_fp(str(i["clip"]), i["text"])),))


# ----- sampling


def _sampler_plan(i: dict[str, Any]) -> tuple[int, object]:
    """(progress steps, seed) for KSampler and KSamplerAdvanced."""
    steps = int(i["steps"])
    if "start_at_step" in i:
        end = min(int(i.get("end_at_step", steps)), steps)
        return max(0, end - int(i["start_at_step"])), i.get("noise_seed")
    return steps, i.get("seed")


async def ksampler(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    costs = ctx.config.costs
    model = i["model"]
    ms = costs.base_ms(ctx.class_type)
    if isinstance(model, Model) and model.ckpt is not None and ctx.memory.load(model.ckpt):
        ms += costs.model_to_gpu_ms
    await ctx.spend(ms)
    steps, seed = _sampler_plan(i)
    latent = i["latent_image"]
    if not isinstance(latent, Latent):
        latent = Latent(512, 512, 1)
    recipe = tuple(sorted((k, str(v)) for k, v in i.items()))
    final = colour_from("sample", recipe)
    accent = colour_from("accent", recipe)
    noise = colour_from("noise", seed)
    side = min(ctx.config.preview_size, 256)
    pw = max(8, min(side, latent.width // 2))
    ph = max(8, min(side, latent.height // 2))
    for step in range(1, steps + 1):
        await ctx.spend(costs.sampler_step_ms)
        preview = None
        if ctx.previews:
            t = step / steps
            preview = gradient(pw, ph, mix_colour(noise, final, t), mix_colour(noise, accent, t))
        await ctx.progress(step, steps, preview)
    return NodeResult((Latent(latent.width, latent.height, latent.batch, final, accent),))


async def vae_decode(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    await ctx.spend(ctx.config.costs.base_ms(ctx.class_type))
    latent = i["samples"]
    if not isinstance(latent, Latent):
        latent = Latent(512, 512, 1)
    return NodeResult(
        (Picture(latent.width, latent.height, latent.batch, latent.colour, latent.accent),)
    )


async def vae_encode(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    await ctx.spend(ctx.config.costs.base_ms(ctx.class_type))
    pic = i["pixels"]
    if not isinstance(pic, Picture):
        pic = Picture(512, 512, 1, 0)
    return NodeResult((Latent(pic.width, pic.height, pic.batch, pic.colour, pic.accent),))


# ----- image operations


def _derived(ctx: NodeContext, i: dict[str, Any], src: Picture) -> Picture:
    recipe = tuple(sorted((k, str(v)) for k, v in i.items()))
    width, height, batch = src.width, src.height, src.batch
    if ctx.class_type in ("ImageScale",):
        w, h = int(i["width"]), int(i["height"])
        if w == 0 and h == 0:
            w, h = width, height
        elif w == 0:
            w = max(1, round(width * h / max(1, height)))
        elif h == 0:
            h = max(1, round(height * w / max(1, width)))
        width, height = w, h
    elif ctx.class_type == "ImageScaleBy":
        width = max(1, round(width * float(i["scale_by"])))
        height = max(1, round(height * float(i["scale_by"])))
    elif ctx.class_type == "ImageCrop":
        width = max(1, min(int(i["width"]), width - min(int(i["x"]), width - 1)))
        height = max(1, min(int(i["height"]), height - min(int(i["y"]), height - 1)))
    elif ctx.class_type == "ImagePadForOutpaint":
        width += int(i["left"]) + int(i["right"])
        height += int(i["top"]) + int(i["bottom"])
    elif ctx.class_type == "RepeatImageBatch":
        batch *= int(i["amount"])
    elif ctx.class_type == "ImageFromBatch":
        batch = max(1, min(int(i["length"]), batch - int(i["batch_index"])))
    if ctx.class_type == "ImageInvert":
        accent = None if src.accent is None else src.accent ^ 0xFFFFFF
        return Picture(width, height, batch, src.colour ^ 0xFFFFFF, accent)
    colour = mix_colour(src.colour, colour_from(ctx.class_type, recipe), 0.35)
    return Picture(width, height, batch, colour, src.accent)


async def image_op(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    await ctx.spend(ctx.config.costs.base_ms(ctx.class_type))
    src = next((v for v in i.values() if isinstance(v, Picture)), None)
    if src is None:
        return await generic(ctx, i)
    out = _derived(ctx, i, src)
    outputs: list[Any] = []
    for type_ in ctx.schema.outputs:
        outputs.append(
            out if type_ == "IMAGE" else Picture(out.width, out.height, 1, 0, None, type_)
        )
    return NodeResult(tuple(outputs))


async def get_image_size(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    await ctx.spend(ctx.config.costs.base_ms(ctx.class_type))
    pic = i["image"]
    w, h, b = (pic.width, pic.height, pic.batch) if isinstance(pic, Picture) else (0, 0, 0)
    ctx.send_text(f"width: {w}, height: {h}\n batch size: {b}")
    return NodeResult((w, h, b))


# ----- outputs


def _save_pictures(ctx: NodeContext, pic: Picture, prefix: str, folder_type: str) -> list[Any]:
    path = ctx.files.save_path(prefix, folder_type, pic.width, pic.height)
    results = []
    text: dict[str, Any] = {"prompt": dict(ctx.prompt)}
    text.update(ctx.extra_data.get("extra_pnginfo") or {})
    for index in range(min(pic.batch, 64)):
        name = f"{path.filename.replace('%batch_num%', str(index))}_{path.counter + index:05}_.png"
        png = encode_png(pic.render(index, ctx.config.max_image_side), text)
        (path.folder / name).write_bytes(png)
        results.append({"filename": name, "subfolder": path.subfolder, "type": folder_type})
    return results


async def save_image(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    await ctx.spend(ctx.config.costs.base_ms(ctx.class_type))
    pic = i["images"]
    if not isinstance(pic, Picture):
        raise TypeError(f"'{type(pic).__name__}' object has no attribute 'cpu'")
    if ctx.class_type == "PreviewImage":
        results = _save_pictures(ctx, pic, "ComfyUI" + ctx.temp_prefix, "temp")
    else:
        results = _save_pictures(ctx, pic, str(i.get("filename_prefix", "ComfyUI")), "output")
    ui: dict[str, Any] = {"images": results}
    if ctx.class_type == "SaveAnimatedWEBP":
        ui["animated"] = [True]
    return NodeResult((), ui)


async def save_latent(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    await ctx.spend(ctx.config.costs.base_ms(ctx.class_type))
    path = ctx.files.save_path(str(i.get("filename_prefix", "latents/ComfyUI")), "output", 0, 0)
    name = f"{path.filename}_{path.counter:05}_.latent"
    (path.folder / name).write_bytes(str(i["samples"]).encode())
    return NodeResult(
        (), {"latents": [{"filename": name, "subfolder": path.subfolder, "type": "output"}]}
    )


async def preview_any(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    await ctx.spend(ctx.config.costs.base_ms(ctx.class_type))
    value = i.get("source")
    text = value if isinstance(value, str) else str(value)
    return NodeResult((), {"text": [text]})


async def save_image_websocket(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    """Each image is a ProgressBar update ``(step, batch)`` carrying a PNG preview.

    That is all the upstream node does, so clients see ``progress_state`` and
    ``progress`` per image, and the picture as a type-1 frame (type 4 for a
    client that negotiated preview metadata), interruptible like any update.
    """
    await ctx.spend(ctx.config.costs.base_ms(ctx.class_type))
    pic = i["images"]
    if isinstance(pic, Picture):
        for index in range(min(pic.batch, 64)):
            image = pic.render(index, ctx.config.max_image_side)
            await ctx.progress(index, pic.batch, image, "PNG")
    return NodeResult(())


# ----- probes (the traces' test nodes)


async def probe_sleep(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    steps, step_ms = int(i["steps"]), int(i["step_ms"])
    pic = i["image"]
    preview_image = None
    if i.get("preview") and isinstance(pic, Picture):
        preview_image = pic.render(0, ctx.config.preview_size)
    for step in range(1, steps + 1):
        await ctx.spend(step_ms)
        await ctx.progress(step, steps, preview_image)
    return NodeResult((pic,))


async def probe_fail(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    await ctx.spend(ctx.config.costs.base_ms(ctx.class_type))
    raise RuntimeError(str(i.get("message", "probe failure")))


# ----- primitives and strings


async def primitive(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    await ctx.spend(ctx.config.costs.base_ms(ctx.class_type))
    return NodeResult((i["value"],))


def _string_result(class_type: str, i: dict[str, Any]) -> Any:
    s = str(i.get("string", ""))
    if class_type == "StringConcatenate":
        return f"{i['string_a']}{i['delimiter']}{i['string_b']}"
    if class_type == "StringReplace":
        return s.replace(str(i["find"]), str(i["replace"]))
    if class_type == "StringLength":
        return len(s)
    if class_type == "StringSubstring":
        return s[int(i["start"]) : int(i["end"])]
    if class_type == "CaseConverter":
        mode = i["mode"]
        if mode == "UPPERCASE":
            return s.upper()
        if mode == "lowercase":
            return s.lower()
        if mode == "Capitalize":
            return s.capitalize()
        return string.capwords(s)
    if class_type == "StringTrim":
        return {"Left": s.lstrip, "Right": s.rstrip}.get(i["mode"], s.strip)()
    if class_type == "StringCompare":
        a, b = str(i["string_a"]), str(i["string_b"])
        if not i.get("case_sensitive", True):
            a, b = a.lower(), b.lower()
        return {"Starts With": a.startswith, "Ends With": a.endswith}.get(i["mode"], a.__eq__)(b)
    if class_type == "RegexMatch":
        flags = (
            (re.IGNORECASE if i.get("case_insensitive") else 0)
            | (re.MULTILINE if i.get("multiline") else 0)
            | (re.DOTALL if i.get("dotall") else 0)
        )
        return re.search(str(i["regex_pattern"]), s, flags) is not None
    raise KeyError(class_type)


async def string_op(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    await ctx.spend(ctx.config.costs.base_ms(ctx.class_type))
    return NodeResult((_string_result(ctx.class_type, i),))


_IMAGE_OPS = (
    "ImageInvert ImageScale ImageScaleBy ImageCrop ImageFlip ImageRotate ImageBlur ImageSharpen "
    "ImageBlend ImageQuantize ImageAddNoise RepeatImageBatch ImageFromBatch ImageBatch "
    "ImagePadForOutpaint ImageCompositeMasked Canny"
).split()
_STRING_OPS = (
    "StringConcatenate StringReplace StringLength StringSubstring CaseConverter StringTrim "
    "StringCompare RegexMatch"
).split()
_PRIMITIVES = (
    "PrimitiveInt PrimitiveFloat PrimitiveString PrimitiveStringMultiline PrimitiveBoolean"
).split()

BEHAVIOURS: Mapping[str, Behaviour] = {
    "EmptyImage": empty_image,
    "EmptyLatentImage": empty_latent,
    "LoadImage": load_image,
    "LoadImageMask": load_image,
    "CheckpointLoaderSimple": checkpoint_loader,
    "VAELoader": vae_loader,
    "LoraLoader": lora_loader,
    "CLIPTextEncode": clip_text_encode,
    "KSampler": ksampler,
    "KSamplerAdvanced": ksampler,
    "VAEDecode": vae_decode,
    "VAEEncode": vae_encode,
    "GetImageSize": get_image_size,
    "SaveImage": save_image,
    "PreviewImage": save_image,
    "SaveAnimatedWEBP": save_image,
    "SaveLatent": save_latent,
    "PreviewAny": preview_any,
    "SaveImageWebsocket": save_image_websocket,
    "ProbeSleep": probe_sleep,
    "ProbeFail": probe_fail,
    **{name: image_op for name in _IMAGE_OPS},
    **{name: string_op for name in _STRING_OPS},
    **{name: primitive for name in _PRIMITIVES},
}


def behaviour_for(class_type: str) -> Behaviour:
    return BEHAVIOURS.get(class_type, generic)
