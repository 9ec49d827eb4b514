"""Prompts and a run helper shared by the simulator tests."""

from __future__ import annotations

from typing import Any

import httpx

from sweeps.simulator import Simulator


def sleep_prompt(steps: int, step_ms: int, color: int = 1) -> dict[str, Any]:
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": color},
        },
        "2": {
            "class_type": "ProbeSleep",
            "inputs": {"image": ["1", 0], "steps": steps, "step_ms": step_ms, "preview": False},
        },
        "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}},
    }


def txt2img(seed: int, ckpt: str = "random-sd15-a.safetensors", steps: int = 3) -> dict[str, Any]:
    return {
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": seed,
                "steps": steps,
                "cfg": 7.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1.0,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "5": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": 64, "height": 64, "batch_size": 1},
        },
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "fox"}},
    }


async def run(http: httpx.AsyncClient, sim: Simulator, prompt: dict[str, Any], **extra: Any) -> str:
    response = await http.post("/prompt", json={"prompt": prompt, **extra})
    assert response.status_code == 200, response.text
    await sim.wait_idle()
    return response.json()["prompt_id"]
