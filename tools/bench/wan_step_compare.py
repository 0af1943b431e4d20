#!/usr/bin/env python3
"""One Wan2.1-T2V-1.3B denoising step, duet against diffusers, plus Wan2.1 VAE decodes.

Random real-size weights (Wan2.1-T2V-1.3B: dim 1536, 30 layers, ffn 8960, 12 heads) in the
original Wan key layout as fp32 safetensors, one set of inputs (latents [1,16,5,60,104] = 17
frames at 480x832, cond / uncond umT5-like contexts of 30 and 120 real rows zero padded to 512,
timestep 999), then, each in its own process with the same thread count:

  (a) diffusers WanTransformer3DModel on the same file renamed in memory by diffusers' own
      convert_wan_transformer_to_diffusers, cond pass + uncond pass + CFG 5 + one
      UniPCMultistepScheduler step (the Wan2.1-T2V-1.3B-Diffusers scheduler_config.json, with
      flow_shift 5), as WanPipeline runs a step;
  (b) duet_wan_bench step, the same step as duet's Wan pipeline runs it;
  (c) duet_wan_bench vae: Wan2.1 VAE decode (random real-size weights, dim 96) of 17 and 81
      frames at 480x832, and diffusers' AutoencoderKLWan on the same weights (--diffusers-vae).

Wall time of the step excludes loading. Peak RSS is each child's own VmHWM (whole process,
and the timed part alone after a reset through /proc/self/clear_refs; weights are in both). The
relative error of the cond velocity tells whether both computed the same thing (~1e-6 in fp32).
duet maps the fp32 weights from the file (zero copy), so its "RSS after load" is small and its
cond pass pays the page faults; diffusers reads them into memory while loading.

duet runs the step on the schedule of the Wan *-Diffusers folders (--schedule diffusers_flow),
as its pipeline does for such a folder, so the new latents are comparable too. Wan's own
FlowUniPC grid (duet's default "unipc" for original folders) starts at the same timestep 999 and
costs the same; it differs from the diffusers grid only in the sigmas (0.99980 vs 0.999999).

    cmake --build --preset default --target duet_wan_bench
    /tmp/ref-venv/bin/python tools/bench/wan_step_compare.py --small    # self-check, < 1 min
    /tmp/ref-venv/bin/python tools/bench/wan_step_compare.py            # full size, see below
    ... --layers 2 --vae-frames 5     # full width and resolution, 2 layers: a quick estimate

Full size on 2 idle cores (2026-12-01, from a 2-layer run and CPU seconds): about 5 min per
side for the step, 16 s per decoded frame (17 frames 4.5 min, 81 frames 21 min), 30 s to write
the weights the first time: about 35 min, and 25 min more with --diffusers-vae. Wall time grows
with other load on the machine (three times that at load average 6); CPU time hardly does.
Peak memory: about 8 GB for the step, 9-10 GB for the decodes; the children run one at a time.

Weights and inputs are cached under --work (default /tmp/wan-bench/{full,small}); results go to
<work>/results.json and a Markdown table to stdout.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

# Wan2.1-T2V-1.3B config.json (original layout; text_dim 4096 is not in the real file).
FULL_DIT = dict(model_type="t2v", patch_size=[1, 2, 2], text_len=512, in_dim=16, dim=1536,
                ffn_dim=8960, freq_dim=256, text_dim=4096, out_dim=16, num_heads=12,
                num_layers=30, qk_norm=True, cross_attn_norm=True, eps=1e-6)
SMALL_DIT = dict(FULL_DIT, dim=256, ffn_dim=512, num_heads=2, num_layers=2)
# Wan2.1_VAE.pth structure (WanVAE_ keyword names); the same for both sizes.
VAE = dict(dim=96, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
           temperal_downsample=[False, True, True])

SIZES = {
    # frames, height, width of the step; VAE decode frame counts
    "full": dict(dit=FULL_DIT, frames=17, height=480, width=832, vae_frames=[17, 81]),
    "small": dict(dit=SMALL_DIT, frames=5, height=64, width=64, vae_frames=[5]),
}
STEPS, SHIFT, GUIDANCE = 50, 5.0, 5.0
COND_LEN, UNCOND_LEN = 30, 120  # real token counts of a short prompt and Wan's long negative
FORMAT_VERSION = 1  # bump when the generated files change

# scheduler/scheduler_config.json of Wan-AI/Wan2.1-T2V-1.3B-Diffusers, flow_shift 3 -> 5.
DIFFUSERS_UNIPC_CONFIG = {
    "beta_end": 0.02, "beta_schedule": "linear", "beta_start": 0.0001, "disable_corrector": [],
    "dynamic_thresholding_ratio": 0.995, "final_sigmas_type": "zero", "flow_shift": SHIFT,
    "lower_order_final": True, "num_train_timesteps": 1000, "predict_x0": True,
    "prediction_type": "flow_prediction", "rescale_betas_zero_snr": False, "sample_max_value": 1.0,
    "solver_order": 2, "solver_p": None, "solver_type": "bh2", "steps_offset": 0,
    "thresholding": False, "timestep_spacing": "linspace", "trained_betas": None,
    "use_beta_sigmas": False, "use_exponential_sigmas": False, "use_flow_sigmas": True,
    "use_karras_sigmas": False,
}


# ---------------------------------------------------------------------------------------------
# Memory and time, measured inside a child
# ---------------------------------------------------------------------------------------------

def status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return -1.0


def reset_peak_rss() -> bool:
    # Peak RSS is read as VmHWM, not ru_maxrss: at exec the kernel carries the launching
    # process's peak over into the child's ru_maxrss (and so into wait4's), which would charge
    # the driver's own memory to every child.
    # "5" resets VmHWM to the current RSS (Linux >= 4.0): the timed part's own peak.
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def ru_maxrss_mib() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def versions() -> dict:
    import diffusers
    import torch
    return {"diffusers": diffusers.__version__, "torch": torch.__version__}


def emit(result: dict):
    print("RESULT " + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------------------------
# Files: weights, config, inputs (cached)
# ---------------------------------------------------------------------------------------------

def wan_unipc_first_timestep(steps: int, shift: float) -> int:
    # Wan's FlowUniPCMultistepScheduler.set_timesteps (fm_solvers_unipc.py): sigmas =
    # linspace(sigma_max, sigma_min, steps + 1)[:-1] with sigma_max = 1 - 1/1000 (float32),
    # shifted, timesteps = sigma * 1000 truncated.
    import numpy as np
    sigma = np.linspace(float(np.float32(0.999)), 0.0, steps + 1)[0]
    sigma = shift * sigma / (1 + (shift - 1) * sigma)
    return int(sigma * 1000)


def diffusers_scheduler():
    from diffusers import UniPCMultistepScheduler
    s = UniPCMultistepScheduler(**DIFFUSERS_UNIPC_CONFIG)
    s.set_timesteps(STEPS, device="cpu")
    return s


def child_prepare(args) -> int:
    files = prepare(Path(args.work), make_spec(args.size, args.layers))
    emit({k: str(v) for k, v in files.items()})
    return 0


def write_random_safetensors(path: Path, sd) -> int:
    """Writes make_tiny_model's StateDict `sd` as fp32 safetensors one tensor at a time, with
    the values sd.build() would give, so the 5.7 GB DiT never sits in memory twice (save_file
    holds the whole dict plus a bytes copy of it). Returns the parameter count."""
    import make_tiny_model as mtm
    header, offset = {}, 0
    for key, _, shape, kind in sd.specs:
        assert not callable(kind), f"{key}: computed tensors are not supported here"
        n = 4 * math.prod(shape)
        header[key] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data buffer starts 8-aligned, as safetensors writes it
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for key, _, shape, kind in sd.specs:
            f.write(mtm.draw(f"{sd.component}/{key}", shape, kind).contiguous().numpy().tobytes())
    tmp.rename(path)
    return offset // 4


def make_spec(size: str, layers: int | None) -> dict:
    spec = SIZES[size]
    if layers:
        spec = dict(spec, dit=dict(spec["dit"], num_layers=layers))
    return spec


def prepare(work: Path, spec: dict) -> dict:
    """Writes (or reuses) dit.safetensors, config.json, inputs.safetensors, vae.safetensors."""
    import torch
    from safetensors.torch import save_file
    import make_tiny_model as mtm

    work.mkdir(parents=True, exist_ok=True)
    stamp = {"version": FORMAT_VERSION, "dit": spec["dit"], "vae": VAE,
             "frames": spec["frames"], "height": spec["height"], "width": spec["width"]}
    stamp_path = work / "stamp.json"
    files = {k: work / f"{k}.safetensors" for k in ("dit", "inputs", "vae")}
    files["config"] = work / "config.json"
    if stamp_path.exists() and json.loads(stamp_path.read_text()) == stamp and all(
            p.exists() for p in files.values()):
        print(f"reusing {work}", flush=True)
        return files
    stamp_path.unlink(missing_ok=True)

    t0 = time.time()
    # make_tiny_model's layout tables at real width: values N(0, 0.02), biases N(0, 0.002),
    # norm gains 1 + N(0, 0.02), each seeded by a hash of its original key.
    n = write_random_safetensors(files["dit"], mtm.wan_dit(spec["dit"], "wan2.1_dit"))
    files["config"].write_text(json.dumps(mtm.wan_config_json(spec["dit"], "0.30.0"), indent=2))
    print(f"wrote {files['dit']} ({n / 1e9:.3f} B params) in {time.time() - t0:.0f} s", flush=True)

    write_random_safetensors(files["vae"], mtm.wan21_vae(VAE))

    cfg = spec["dit"]
    first_t = wan_unipc_first_timestep(STEPS, SHIFT)
    diff_t = int(diffusers_scheduler().timesteps[0])
    assert first_t == diff_t == 999, (first_t, diff_t)
    g = torch.Generator().manual_seed(20261201)
    latents = torch.randn(1, cfg["in_dim"], (spec["frames"] - 1) // 4 + 1, spec["height"] // 8,
                          spec["width"] // 8, generator=g)
    contexts = {}
    for name, n_rows in (("context_cond", COND_LEN), ("context_uncond", UNCOND_LEN)):
        # umT5 output rows are O(0.1..1); zero padding to text_len, as both pipelines pass it.
        ctx = torch.zeros(1, cfg["text_len"], cfg["text_dim"])
        ctx[0, :n_rows] = torch.randn(n_rows, cfg["text_dim"], generator=g) * 0.2
        contexts[name] = ctx
    save_file({"latents": latents, "timestep": torch.tensor([first_t], dtype=torch.int64),
               **contexts}, str(files["inputs"]))
    stamp_path.write_text(json.dumps(stamp))
    print(f"prepared {work} in {time.time() - t0:.0f} s", flush=True)
    return files


# ---------------------------------------------------------------------------------------------
# diffusers children
# ---------------------------------------------------------------------------------------------

def child_diffusers_step(args) -> int:
    import torch
    from accelerate import init_empty_weights
    from diffusers import WanTransformer3DModel
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers
    from safetensors.torch import load_file, save_file

    torch.set_num_threads(args.threads)
    work = Path(args.work)
    cfg = json.loads((work / "config.json").read_text())
    inputs = load_file(work / "inputs.safetensors")

    t0 = time.perf_counter()
    sd = convert_wan_transformer_to_diffusers(load_file(work / "dit.safetensors"))
    text_dim = sd["condition_embedder.text_embedder.linear_1.weight"].shape[1]
    # Parameters on meta, buffers (RoPE tables) real, then the file's tensors assigned: what
    # from_pretrained(low_cpu_mem_usage=True) does, without a second copy of the weights.
    with init_empty_weights(include_buffers=False):
        model = WanTransformer3DModel(
            patch_size=tuple(cfg["patch_size"]) if "patch_size" in cfg else (1, 2, 2),
            num_attention_heads=cfg["num_heads"], attention_head_dim=cfg["dim"] // cfg["num_heads"],
            in_channels=cfg["in_dim"], out_channels=cfg["out_dim"], text_dim=text_dim,
            freq_dim=cfg["freq_dim"], ffn_dim=cfg["ffn_dim"], num_layers=cfg["num_layers"],
            cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=cfg["eps"])
    model.load_state_dict(sd, strict=True, assign=True)
    del sd
    model.eval()
    load_s = time.perf_counter() - t0
    load_peak, rss_after_load = status_mib("VmHWM"), status_mib("VmRSS")

    scheduler = diffusers_scheduler()
    t = scheduler.timesteps[:1]
    assert int(t[0]) == int(inputs["timestep"][0]), (t, inputs["timestep"])
    latents = inputs["latents"]
    hwm = reset_peak_rss()
    with torch.inference_mode():
        # WanPipeline.__call__, one iteration.
        t1 = time.perf_counter()
        timestep = t.expand(latents.shape[0])
        cond = model(hidden_states=latents, timestep=timestep,
                     encoder_hidden_states=inputs["context_cond"], return_dict=False)[0]
        t2 = time.perf_counter()
        uncond = model(hidden_states=latents, timestep=timestep,
                       encoder_hidden_states=inputs["context_uncond"], return_dict=False)[0]
        t3 = time.perf_counter()
        noise_pred = uncond + GUIDANCE * (cond - uncond)
        new_latents = scheduler.step(noise_pred, t[0], latents, return_dict=False)[0]
        t4 = time.perf_counter()
    step_peak = status_mib("VmHWM") if hwm else -1.0
    save_file({"latents": new_latents.contiguous(), "cond": cond.float().contiguous(),
               "uncond": uncond.float().contiguous()}, args.out)
    emit({"impl": "diffusers", "threads": torch.get_num_threads(), "load_s": load_s,
          "step_s": t4 - t1, "cond_s": t2 - t1, "uncond_s": t3 - t2, "scheduler_s": t4 - t3,
          "rss_after_load_mib": rss_after_load, "load_peak_rss_mib": load_peak,
          "step_peak_rss_mib": step_peak,
          "peak_rss_mib": max(load_peak, status_mib("VmHWM")), "ru_maxrss_mib": ru_maxrss_mib(),
          "timestep": float(t[0]), "versions": versions()})
    return 0


def child_diffusers_vae(args) -> int:
    import torch
    from diffusers import AutoencoderKLWan
    from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers
    from safetensors.torch import load_file

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    vae = AutoencoderKLWan(base_dim=VAE["dim"], z_dim=VAE["z_dim"], dim_mult=VAE["dim_mult"],
                           num_res_blocks=VAE["num_res_blocks"],
                           temperal_downsample=VAE["temperal_downsample"])
    sd = convert_wan_vae_to_diffusers(load_file(Path(args.work) / "vae.safetensors"))
    vae.load_state_dict(sd, strict=True)
    del sd
    vae.eval()
    load_s = time.perf_counter() - t0
    load_peak, rss_after_load = status_mib("VmHWM"), status_mib("VmRSS")
    g = torch.Generator().manual_seed(2026)
    z = torch.randn(1, VAE["z_dim"], (args.frames - 1) // 4 + 1, args.height // 8,
                    args.width // 8, generator=g)
    mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1)
    inv_std = 1.0 / torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1)
    hwm = reset_peak_rss()
    with torch.inference_mode():
        t1 = time.perf_counter()
        video = vae.decode(z / inv_std + mean, return_dict=False)[0]  # as WanPipeline does
        decode_s = time.perf_counter() - t1
    assert video.shape[2] == args.frames, video.shape
    emit({"impl": "diffusers", "threads": torch.get_num_threads(), "frames": args.frames,
          "height": args.height, "width": args.width, "load_s": load_s, "decode_s": decode_s,
          "rss_after_load_mib": rss_after_load, "load_peak_rss_mib": load_peak,
          "decode_peak_rss_mib": status_mib("VmHWM") if hwm else -1.0,
          "peak_rss_mib": max(load_peak, status_mib("VmHWM")), "ru_maxrss_mib": ru_maxrss_mib(),
          "versions": versions()})
    return 0


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------

def run_child(cmd: list, threads: int, label: str) -> dict:
    """Runs cmd with `threads` BLAS/OpenMP threads; returns its RESULT plus the child's own peak
    RSS from wait4 and its wall and CPU time."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    print(f"$ {' '.join(map(str, cmd))}", flush=True)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, text=True, env=env)
    result = None
    for line in proc.stdout:
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
        else:
            print(f"  [{label}] {line}", end="", flush=True)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 or result is None:
        raise SystemExit(f"{label} failed (exit {proc.returncode})")
    result["wait4_maxrss_mib"] = usage.ru_maxrss / 1024.0
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
    result["wall_s"] = time.perf_counter() - start
    # Other work on the machine stretches wall time but hardly CPU time; both are kept.
    result["loadavg_1min"] = [load_before, os.getloadavg()[0]]
    return result


def rel_err(a, b) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


def compare_outputs(duet_out: Path, diffusers_out: Path) -> dict:
    from safetensors.torch import load_file
    d, r = load_file(duet_out), load_file(diffusers_out)
    return {k: rel_err(d[k], r[k]) for k in ("cond", "uncond", "latents")}


def fmt_mib(x: float) -> str:
    return f"{x:,.0f}" if x >= 0 else "n/a"


def step_table(res: dict) -> str:
    d, r, err = res["step"]["duet"], res["step"]["diffusers"], res["step"]["rel_err"]
    spec = res["spec"]
    cfg = spec["dit"]
    rows = [
        ("step: cond + uncond + CFG + UniPC, s", "step_s", "{:.2f}"),
        ("  cond pass, s", "cond_s", "{:.2f}"),
        ("  uncond pass, s", "uncond_s", "{:.2f}"),
        ("  CFG + UniPC step, s", "scheduler_s", "{:.4f}"),
        ("load (file to model), s", "load_s", "{:.1f}"),
        ("RSS after load, MiB", "rss_after_load_mib", None),
        ("peak RSS during the step, MiB", "step_peak_rss_mib", None),
        ("peak RSS of the process (load included), MiB", "peak_rss_mib", None),
        ("CPU time of the process, s", "cpu_s", "{:.0f}"),
    ]
    load = [x for k in (d, r) for x in k["loadavg_1min"]]
    out = [f"Wan2.1-T2V DiT ({cfg['num_layers']} layers, dim {cfg['dim']}), random weights, fp32, "
           f"{spec['width']}x{spec['height']}, {spec['frames']} frames (latents "
           f"{res['latent_shape']}, {res['step']['duet']['seq_len']} tokens), context 512 x "
           f"{cfg['text_dim']}, {res['threads']} threads, {res['machine']}, {res['date']}, "
           f"load average {min(load):.1f}-{max(load):.1f}; diffusers "
           f"{res['versions']['diffusers']}, torch {res['versions']['torch']}",
           "",
           "| | duet | diffusers " + res["versions"]["diffusers"] + " | duet / diffusers |",
           "|---|---:|---:|---:|"]
    for label, key, f in rows:
        a, b = d.get(key, -1), r.get(key, -1)
        fa = f.format(a) if f else fmt_mib(a)
        fb = f.format(b) if f else fmt_mib(b)
        ratio = f"{a / b:.2f}" if a > 0 and b > 0 else ""
        out.append(f"| {label} | {fa} | {fb} | {ratio} |")
    out.append("")
    out.append(f"Relative error duet vs diffusers (fp32): cond velocity {err['cond']:.2e}, "
               f"uncond {err['uncond']:.2e}, latents after the step {err['latents']:.2e}.")
    return "\n".join(out)


def vae_table(res: dict) -> str:
    out = []
    if res["vae"]:
        out += [f"Wan2.1 VAE decode, random weights (dim 96), fp32, {res['threads']} threads, "
                f"{res['machine']}", "",
                "| frames | size | impl | decode s | s / frame | CPU s | load average | "
                "peak RSS during decode, MiB | peak RSS of the process (load included), MiB |",
                "|---:|---|---|---:|---:|---:|---:|---:|---:|"]
        for v in res["vae"]:
            out.append(f"| {v['frames']} | {v['width']}x{v['height']} | {v['impl']} | "
                       f"{v['decode_s']:.1f} | {v['decode_s'] / v['frames']:.2f} | "
                       f"{v['cpu_s']:.0f} | {max(v['loadavg_1min']):.1f} | "
                       f"{fmt_mib(v['decode_peak_rss_mib'])} | {fmt_mib(v['peak_rss_mib'])} |")
    return "\n".join(out)


def find_bench(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    for p in (ROOT / "build/default/duet_wan_bench", *sorted(ROOT.glob("build/*/duet_wan_bench"))):
        if p.exists():
            return p
    raise SystemExit("duet_wan_bench not found; build it with "
                     "`cmake --build --preset default --target duet_wan_bench` or pass --bench")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", action="store_true", help="2 layers, dim 256, 64x64, 5 frames")
    ap.add_argument("--work", type=Path, default=Path("/tmp/wan-bench"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bench", help="path of duet_wan_bench (default: build/*/duet_wan_bench)")
    ap.add_argument("--layers", type=int,
                    help="DiT depth instead of the config's (a quick estimate at full width and "
                         "resolution: the step time grows linearly with the layers)")
    ap.add_argument("--no-step", action="store_true", help="skip the DiT step")
    ap.add_argument("--no-vae", action="store_true", help="skip the VAE decodes")
    ap.add_argument("--vae-frames", help="comma-separated frame counts (default 17,81; small: 5)")
    ap.add_argument("--diffusers-vae", action="store_true",
                    help="also decode with diffusers' AutoencoderKLWan (doubles the VAE time)")
    ap.add_argument("--json", type=Path, help="results file (default <work>/results.json)")
    # internal: the children
    ap.add_argument("--child", choices=["prepare", "diffusers-step", "diffusers-vae"],
                    help=argparse.SUPPRESS)
    ap.add_argument("--size", choices=list(SIZES), help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--frames", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--height", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--width", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child == "prepare":
        return child_prepare(args)
    if args.child == "diffusers-step":
        return child_diffusers_step(args)
    if args.child == "diffusers-vae":
        return child_diffusers_vae(args)

    # The driver imports neither torch nor diffusers until the children are done, so it stays
    # small (the children's wait4 figures are then close to their own).
    size = "small" if args.small else "full"
    spec = make_spec(size, args.layers)
    work = args.work / (f"{size}-{args.layers}layers" if args.layers else size)
    bench = find_bench(args.bench)
    me = [sys.executable, Path(__file__).resolve()]
    prep = me + ["--child", "prepare", "--size", size, "--work", work]
    prep += ["--layers", args.layers] if args.layers else []
    files = {k: Path(v) for k, v in run_child(prep, args.threads, "prepare").items()
             if k in ("dit", "inputs", "vae", "config")}
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    res = {"size": size, "spec": spec, "threads": args.threads,
           "machine": f"{cpu}, {os.cpu_count()} CPUs",
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "latent_shape": [1, 16, (spec["frames"] - 1) // 4 + 1, spec["height"] // 8,
                            spec["width"] // 8]}
    if not args.no_step:
        outs = {k: work / f"out_{k}.safetensors" for k in ("duet", "diffusers")}
        diff = run_child(me + ["--child", "diffusers-step", "--work", work, "--threads",
                               args.threads, "--out", outs["diffusers"]],
                         args.threads, "diffusers")
        duet = run_child([bench, "step", "--weights", files["dit"], "--config", files["config"],
                          "--inputs", files["inputs"], "--out", outs["duet"], "--threads",
                          args.threads, "--schedule", "diffusers_flow", "--guidance", GUIDANCE],
                         args.threads, "duet")
        res["versions"] = diff["versions"]
        res["step"] = {"duet": duet, "diffusers": diff}
    res["vae"] = []
    if not args.no_vae:
        frames = ([int(f) for f in args.vae_frames.split(",")] if args.vae_frames
                  else spec["vae_frames"])
        for f in frames:
            hw = ["--frames", f, "--height", spec["height"], "--width", spec["width"]]
            res["vae"].append(run_child([bench, "vae", "--weights", files["vae"], "--threads",
                                         args.threads] + hw, args.threads, "duet vae"))
            if args.diffusers_vae:
                res["vae"].append(run_child(me + ["--child", "diffusers-vae", "--work", work,
                                                  "--threads", args.threads] + hw,
                                            args.threads, "diffusers vae"))
    if "step" in res:
        res["step"]["rel_err"] = compare_outputs(outs["duet"], outs["diffusers"])
    out_json = args.json or work / "results.json"
    out_json.write_text(json.dumps(res, indent=2, default=str))
    print()
    if "step" in res:
        print(step_table(res) + "\n")
    if res["vae"]:
        print(vae_table(res))
    print(f"\nresults: {out_json}")
    if "step" in res and res["step"]["rel_err"]["cond"] > 1e-4:
        print("WARNING: duet and diffusers disagree (cond velocity rel err > 1e-4)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
