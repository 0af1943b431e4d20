#!/usr/bin/env python3
"""One joint denoising step of the real-width Ovi fusion model, duet against Ovi's own code,
plus the audio decoder's real-time factor (MMAudio 16k VAE + BigVGAN 16k) in duet.

The full 30-block Ovi is 23.3 GB in bf16: it does not fit a 24 GiB machine twice (nor
comfortably once). So this measures the *real-width* architecture (video and audio towers of
Ovi's video.json / audio.json: dim 3072, ffn 14336, 24 heads, text 512 x 4096, audio ConvMLP
8192) with only the first --blocks fused blocks (default 4), and reports the per-block figure
and the 30-block extrapolation. Random weights in Ovi/model.safetensors' key layout
(make_tiny_model's ovi_fusion() tables, values N(0, 0.02)) are written as bf16 safetensors,
with one set of inputs: video latents [48, 31, h/16, w/16] (default 256x256: 31 * 8 * 8 = 1984
tokens), audio latents [157, 20], t = 999 (the first of Ovi's 50-step shift-5 UniPC schedule),
and umT5-like contexts (cond 128 rows, video negative 40, audio negative 24, zero padded to
512). Then, each in its own process with the same thread count:

  (a) Ovi's FusionModel (character-ai/Ovi ovi/modules/fusion.py, from a checkout) with the
      file's bf16 tensors assigned, Ovi's bf16 casts as they are: Ovi's real bf16 run. The one
      patch: flash_attention (CUDA only) -> torch's scaled_dot_product_attention in the input
      dtype with a boolean key mask (same semantics: keys >= k_lens masked, every query row
      computed). One step as OviFusionEngine.generate runs it: cond forward, uncond forward
      with slg_layer, CFG (video 4, audio 3), one FlowUniPCMultistepScheduler step per modality.
  (b) duet_ovi_bench step: the same step as duet's OviPipeline::denoise runs it.

Each side runs the step --repeats times from the same inputs: the first run and the best warm
one are reported. Peak RSS is each child's own VmHWM (whole process, and the timed part alone).
The relative error of the cond velocities shows both computed the same thing (bf16 on both
sides: ~1e-2 is bf16 rounding through a few blocks).

    cmake --build build/h3 --target duet_ovi_bench
    mkdir -p /tmp/refsrc/Ovi && (cd /work/.mirror/character-ai+Ovi/repo && git archive HEAD \\
        $(git ls-tree --name-only HEAD | grep -v assets) | tar -x -C /tmp/refsrc/Ovi)
    /tmp/ref-venv/bin/python tools/bench/ovi_step_compare.py --small    # self-check, < 1 min
    /tmp/ref-venv/bin/python tools/bench/ovi_step_compare.py            # 4 real-width blocks

Before every timed child the driver waits (up to --max-wait s) until the 1-minute load average
is below --max-load (1.0), and records the load it started at. Files are cached under --work
(default /tmp/ovi-bench/<size>); results go to <work>/results.json and a table to stdout.
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import platform
import struct
import subprocess
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
REF_CONFIGS = ROOT.parent / "shared/reference/ovi"

STEPS, SHIFT, VIDEO_GUIDANCE, AUDIO_GUIDANCE = 50, 5.0, 4.0, 3.0
CONTEXT_ROWS = {"context_cond": 128, "context_video_neg": 40, "context_audio_neg": 24}
FORMAT_VERSION = 1

# MMAudio VAE_16k and BigVGAN 16k (bigvgan_vocoder.yml) at real size.
REAL_MMAUDIO_VAE = dict(data_dim=80, embed_dim=20, hidden_dim=384, ch_mult=[1, 2, 4],
                        num_res_blocks=2, attn_layers=[3], down_layers=[0], kernel_size=3)


def tower_configs(blocks: int, small: bool) -> tuple[dict, dict]:
    """Ovi's video.json / audio.json (+ text_dim 4096, WanModel's default, and the audio ConvMLP
    width Ovi derives from dim), cut to `blocks` fused blocks."""
    video = json.loads((REF_CONFIGS / "video.json").read_text())
    audio = json.loads((REF_CONFIGS / "audio.json").read_text())
    for cfg in (video, audio):
        cfg.update(num_layers=blocks, text_dim=4096)
        if small:
            cfg.update(dim=256, ffn_dim=512, num_heads=2)
    audio["patch_embedding_mlp_dim"] = ovi_conv_mlp_dim(audio["dim"])
    return video, audio


def ovi_conv_mlp_dim(dim: int) -> int:
    # ConvMLP(dim, 4 * dim, multiple_of=256): int(2 * hidden / 3) rounded up to 256.
    h = int(2 * 4 * dim / 3)
    return 256 * ((h + 255) // 256)


SIZES = {
    "full": dict(width=256, height=256, latent_frames=31, audio_latents=157),
    "small": dict(width=64, height=64, latent_frames=3, audio_latents=15),
}


# ---------------------------------------------------------------------------------------------
# Measurements inside a child (as wan_step_compare.py)
# ---------------------------------------------------------------------------------------------

def status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return -1.0


def reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def emit(result: dict):
    print("RESULT " + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------

def write_random_safetensors(path: Path, sd, dtype: str) -> int:
    """make_tiny_model's StateDict as safetensors one tensor at a time (F32 or BF16), so the
    multi-GB file never sits in memory. Returns the parameter count."""
    import torch
    import make_tiny_model as mtm
    size = {"F32": 4, "BF16": 2}[dtype]
    header, offset = {}, 0
    for key, _, shape, kind in sd.specs:
        assert not callable(kind), key
        n = size * math.prod(shape)
        header[key] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for key, _, shape, kind in sd.specs:
            t = mtm.draw(f"{sd.component}/{key}", shape, kind).contiguous()
            if dtype == "BF16":
                t = t.to(torch.bfloat16).view(torch.int16)
            f.write(t.numpy().tobytes())
    tmp.rename(path)
    return offset // size


def first_timestep() -> int:
    # Wan/Ovi FlowUniPC grid: sigma_max = 1 - 1/1000, shifted; t = sigma * 1000 truncated.
    import numpy as np
    sigma = np.linspace(float(np.float32(0.999)), 0.0, STEPS + 1)[0]
    return int(SHIFT * sigma / (1 + (SHIFT - 1) * sigma) * 1000)


def prepare(work: Path, size: str, blocks: int, audio_decoder: bool) -> dict:
    import torch
    from safetensors.torch import save_file
    import make_tiny_model as mtm

    work.mkdir(parents=True, exist_ok=True)
    video, audio = tower_configs(blocks, size == "small")
    geo = SIZES[size]
    stamp = {"version": FORMAT_VERSION, "video": video, "audio": audio, "geo": geo}
    files = {"weights": work / "model.safetensors", "inputs": work / "inputs.safetensors"}
    if audio_decoder:
        files.update(vae=work / "v1-16.safetensors", vocoder=work / "bigvgan.safetensors")
    stamp_path = work / "stamp.json"
    if stamp_path.exists() and json.loads(stamp_path.read_text()) == stamp and all(
            p.exists() for p in files.values()):
        print(f"reusing {work}", flush=True)
        return files
    stamp_path.unlink(missing_ok=True)
    t0 = time.time()
    n = write_random_safetensors(files["weights"], mtm.ovi_fusion(video, audio), "BF16")
    print(f"wrote {files['weights']} ({n / 1e9:.3f} B params, bf16) in {time.time() - t0:.0f} s",
          flush=True)
    if audio_decoder:
        vae_cfg = REAL_MMAUDIO_VAE if size == "full" else mtm.MMAUDIO_VAE
        voc_cfg = dict(mtm.BIGVGAN, upsample_initial_channel=1536 if size == "full" else 64)
        save_file(dict(mtm.mmaudio_vae(vae_cfg).build()), str(files["vae"]))
        save_file(dict(mtm.bigvgan(voc_cfg).build()), str(files["vocoder"]))
    g = torch.Generator().manual_seed(20261201)
    h, w = geo["height"] // 16, geo["width"] // 16
    t = first_timestep()
    assert t == 999, t
    inputs = {"video": torch.randn(48, geo["latent_frames"], h, w, generator=g),
              "audio": torch.randn(geo["audio_latents"], 20, generator=g),
              "timestep": torch.tensor([t], dtype=torch.int64)}
    for name, rows in CONTEXT_ROWS.items():
        ctx = torch.zeros(1, 512, 4096)
        ctx[0, :rows] = torch.randn(rows, 4096, generator=g) * 0.2
        inputs[name] = ctx
    save_file(inputs, str(files["inputs"]))
    stamp_path.write_text(json.dumps(stamp))
    print(f"prepared {work} in {time.time() - t0:.0f} s", flush=True)
    return files


def child_prepare(args) -> int:
    files = prepare(Path(args.work), args.size, args.blocks, not args.no_audio)
    emit({k: str(v) for k, v in files.items()})
    return 0


# ---------------------------------------------------------------------------------------------
# Ovi's side
# ---------------------------------------------------------------------------------------------

def sdpa_attention(q, k, v, q_lens=None, k_lens=None, window_size=(-1, -1), **_):
    """flash_attention's contract with torch's SDPA, in the input dtype: q [B, Lq, N, D],
    k/v [B, Lk, N, D]; keys at index >= k_lens[b] masked; every query row computed."""
    import torch
    import torch.nn.functional as F
    assert q_lens is None and tuple(window_size) == (-1, -1)
    mask = None
    if k_lens is not None:
        keep = torch.arange(k.shape[1])[None, :] < k_lens.to(torch.long)[:, None]  # [B, Lk]
        mask = keep[:, None, None, :]
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2).to(q.dtype),
                                         v.transpose(1, 2).to(q.dtype), attn_mask=mask)
    return out.transpose(1, 2).type(q.dtype)


def load_ovi(src: Path):
    """ovi.modules.{model,fusion} and ovi.utils.fm_solvers_unipc from a checkout, without
    ovi/__init__.py's pipeline imports (as tools/fixtures/make_golden_ovi_fusion.py)."""
    sys.path.insert(0, str(src))
    for p in ("ovi", "ovi/modules", "ovi/utils"):
        m = types.ModuleType(p.replace("/", "."))
        m.__path__ = [str(src / p)]
        sys.modules[p.replace("/", ".")] = m
    model = importlib.import_module("ovi.modules.model")
    fusion = importlib.import_module("ovi.modules.fusion")
    for mod in (model, fusion):
        mod.flash_attention = sdpa_attention
    unipc = importlib.import_module("ovi.utils.fm_solvers_unipc")
    return fusion, unipc


def child_ref_step(args) -> int:
    import warnings
    import torch
    from accelerate import init_empty_weights
    from safetensors.torch import load_file, save_file

    warnings.filterwarnings("ignore", message=".*CUDA is not available.*")
    torch.set_num_threads(args.threads)
    fusion_mod, unipc = load_ovi(Path(args.ovi_src))
    video, audio = tower_configs(args.blocks, args.size == "small")
    audio.pop("patch_embedding_mlp_dim")  # Ovi derives it from dim
    for cfg in (video, audio):
        cfg["patch_size"] = tuple(cfg["patch_size"])
        cfg["window_size"] = tuple(cfg["window_size"])
    work = Path(args.work)
    inputs = load_file(work / "inputs.safetensors")

    t0 = time.perf_counter()
    with init_empty_weights(include_buffers=False):
        model = fusion_mod.FusionModel(video, audio)
    model.load_state_dict(load_file(work / "model.safetensors"), strict=True, assign=True)
    model.eval()
    load_s = time.perf_counter() - t0
    load_peak, rss_after_load = status_mib("VmHWM"), status_mib("VmRSS")

    bf = torch.bfloat16
    ctx = {k: inputs[k][0, :n].to(bf) for k, n in CONTEXT_ROWS.items()}  # Ovi: unpadded [n, 4096]
    f, h, w = inputs["video"].shape[1:]
    seq_v, seq_a = f * (h // 2) * (w // 2), inputs["audio"].shape[0]
    steps, outs = [], {}
    hwm = reset_peak_rss()
    with torch.inference_mode():
        for r in range(args.repeats):
            # OviFusionEngine.get_scheduler_time_steps + one iteration of its sampling loop.
            scheds = []
            for _ in range(2):
                s = unipc.FlowUniPCMultistepScheduler(num_train_timesteps=1000, shift=1,
                                                      use_dynamic_shifting=False)
                s.set_timesteps(STEPS, device="cpu", shift=SHIFT)
                scheds.append(s)
            t_v = scheds[0].timesteps[0]
            assert int(t_v) == int(inputs["timestep"][0]), (t_v, inputs["timestep"])
            video_noise, audio_noise = inputs["video"].to(bf), inputs["audio"].to(bf)
            t1, c1 = time.perf_counter(), time.process_time()
            timestep_input = torch.full((1,), t_v)
            pos_v, pos_a = model(vid=[video_noise], audio=[audio_noise], t=timestep_input,
                                 audio_context=[ctx["context_cond"]],
                                 vid_context=[ctx["context_cond"]], vid_seq_len=seq_v,
                                 audio_seq_len=seq_a, first_frame_is_clean=False)
            t2 = time.perf_counter()
            neg_v, neg_a = model(vid=[video_noise], audio=[audio_noise], t=timestep_input,
                                 audio_context=[ctx["context_audio_neg"]],
                                 vid_context=[ctx["context_video_neg"]], vid_seq_len=seq_v,
                                 audio_seq_len=seq_a, first_frame_is_clean=False,
                                 slg_layer=args.slg)
            t3 = time.perf_counter()
            gv = neg_v[0] + VIDEO_GUIDANCE * (pos_v[0] - neg_v[0])
            ga = neg_a[0] + AUDIO_GUIDANCE * (pos_a[0] - neg_a[0])
            new_v = scheds[0].step(gv.unsqueeze(0), t_v, video_noise.unsqueeze(0),
                                   return_dict=False)[0].squeeze(0)
            new_a = scheds[1].step(ga.unsqueeze(0), scheds[1].timesteps[0],
                                   audio_noise.unsqueeze(0), return_dict=False)[0].squeeze(0)
            t4 = time.perf_counter()
            steps.append({"step_s": t4 - t1, "cpu_s": time.process_time() - c1, "cond_s": t2 - t1, "uncond_s": t3 - t2,
                          "scheduler_s": t4 - t3})
            print(f"step {r + 1}: {t4 - t1:.2f} s (cond {t2 - t1:.2f}, uncond {t3 - t2:.2f})",
                  flush=True)
            if r == 0:
                outs = {"cond_video": pos_v[0], "cond_audio": pos_a[0], "uncond_video": neg_v[0],
                        "uncond_audio": neg_a[0], "video": new_v, "audio": new_a}
    step_peak = status_mib("VmHWM") if hwm else -1.0
    save_file({k: v.float().contiguous() for k, v in outs.items()}, args.out)
    warm = min(s["step_s"] for s in steps[1:]) if len(steps) > 1 else steps[0]["step_s"]
    emit({"impl": "ovi", "threads": torch.get_num_threads(), "load_s": load_s,
          "step_s": [s["step_s"] for s in steps], "step_cpu_s": [s["cpu_s"] for s in steps],
          "cond_s": [s["cond_s"] for s in steps],
          "uncond_s": [s["uncond_s"] for s in steps],
          "scheduler_s": [s["scheduler_s"] for s in steps],
          "first_step_s": steps[0]["step_s"], "warm_step_s": warm,
          "rss_after_load_mib": rss_after_load, "load_peak_rss_mib": load_peak,
          "step_peak_rss_mib": step_peak, "peak_rss_mib": max(load_peak, status_mib("VmHWM")),
          "seq_len_video": seq_v, "seq_len_audio": seq_a, "torch": torch.__version__})
    return 0


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------

def wait_for_quiet(max_load: float, max_wait: float) -> float:
    """Waits until the 1-minute load average is below max_load (or max_wait passes); returns
    the load average the run starts at."""
    start = time.time()
    load = os.getloadavg()[0]
    while load >= max_load and time.time() - start < max_wait:
        print(f"  load average {load:.2f} >= {max_load}; waiting", flush=True)
        time.sleep(20)
        load = os.getloadavg()[0]
    return load


def run_child(cmd: list, threads: int, label: str, quiet: tuple | None = None) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    load_before = wait_for_quiet(*quiet) if quiet else os.getloadavg()[0]
    print(f"$ {' '.join(map(str, cmd))}", flush=True)
    start = time.perf_counter()
    proc = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, text=True, env=env)
    result = None
    for line in proc.stdout:
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
        else:
            print(f"  [{label}] {line}", end="", flush=True)
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0 or result is None:
        raise SystemExit(f"{label} failed (exit {code})")
    result["wait4_maxrss_mib"] = usage.ru_maxrss / 1024.0
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
    result["wall_s"] = time.perf_counter() - start
    result["loadavg_1min"] = [load_before, os.getloadavg()[0]]
    return result


def rel_err(a, b) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


def compare_outputs(duet_out: Path, ref_out: Path) -> dict:
    from safetensors.torch import load_file
    d, r = load_file(duet_out), load_file(ref_out)
    return {k: rel_err(d[k], r[k]) for k in r}


def find_bench(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    for p in sorted(ROOT.glob("build/*/duet_ovi_bench")):
        if p.exists():
            return p
    raise SystemExit("duet_ovi_bench not found; build it (--target duet_ovi_bench) or pass --bench")


def table(res: dict) -> str:
    d, r, err = res["step"]["duet"], res["step"]["ovi"], res["step"]["rel_err"]
    blocks = res["blocks"]
    per_block = d["per_block_flops"]
    rows = [("first step: cond + uncond + CFG + UniPC x2, s", "first_step_s", "{:.2f}"),
            ("warm step, s", "warm_step_s", "{:.2f}"),
            ("CPU time of the step (both threads), s, best run", "best_cpu_s", "{:.1f}"),
            ("load (file to model), s", "load_s", "{:.2f}"),
            ("RSS after load, MiB", "rss_after_load_mib", "{:,.0f}"),
            ("peak RSS during the steps, MiB", "step_peak_rss_mib", "{:,.0f}"),
            ("peak RSS of the process, MiB", "peak_rss_mib", "{:,.0f}"),
            ("CPU time of the process, s", "cpu_s", "{:.0f}")]
    for x in (d, r):
        x["best_cpu_s"] = min(x["step_cpu_s"])
    load = [x for k in (d, r) for x in k["loadavg_1min"]]
    width = ("real width (dim 3072, ffn 14336, 24 heads)" if res["size"] == "full"
             else "self-check width (dim 256, ffn 512, 2 heads)")
    out = [f"Ovi fusion, {width}, first {blocks} of 30 fused "
           f"blocks, random weights, bf16, {res['geo']['width']}x{res['geo']['height']}, "
           f"{res['geo']['latent_frames']} latent frames ({d['seq_len_video']} video tokens) + "
           f"{d['seq_len_audio']} audio latents, slg block {res['slg']}, {res['threads']} "
           f"threads, {res['machine']}, {res['date']}, load average {min(load):.2f}-"
           f"{max(load):.2f}; Ovi {res['ovi_commit']}, torch {r['torch']}", "",
           "| | duet | Ovi | duet / Ovi |", "|---|---:|---:|---:|"]
    for label, key, f in rows:
        a, b = d.get(key, -1), r.get(key, -1)
        ratio = f"{a / b:.2f}" if a > 0 and b > 0 else ""
        out.append(f"| {label} | {f.format(a)} | {f.format(b)} | {ratio} |")
    out.append("")
    # Extrapolation from CPU time (wall time on this loaded machine mostly measures the other
    # work): the step minus its blocks' share, plus 30 blocks' worth, FLOP-weighted (the uncond
    # pass skips one block); idle wall time ~ CPU time / threads.
    for name, x in (("duet", d), ("Ovi", r)):
        blocks_flops = (2 * blocks - 1) * per_block
        share = blocks_flops / d["flops_per_step"]
        cpu = x["best_cpu_s"]
        per_block_cpu = cpu * share / (2 * blocks - 1)
        full = cpu * (1 - share) + per_block_cpu * (2 * 30 - 1)
        out.append(f"{name}: {per_block_cpu:.2f} CPU s per fused block forward, about {full:.0f} "
                   f"CPU s (~{full / res['threads']:.0f} s wall on {res['threads']} idle cores) "
                   f"per joint step with all 30 blocks; "
                   f"{d['flops_per_step'] / cpu * res['threads'] / 1e12:.2f} TFLOP/s per "
                   f"{res['threads']} busy cores.")
    out.append("")
    out.append("Relative error duet vs Ovi (both bf16): " +
               ", ".join(f"{k} {v:.2e}" for k, v in sorted(err.items())) + ".")
    return "\n".join(out)


def audio_table(res: dict) -> str:
    a = res["audio"]
    best = min(a["total_s"])
    return (f"Audio decode of {a['latents']} latents ({a['clip_s']:.2f} s of 16 kHz sound), duet, "
            f"fp32, {'real-size' if res['size'] == 'full' else 'tiny'} random MMAudio 16k VAE + "
            f"BigVGAN 16k, {res['threads']} threads, load "
            f"average {max(a['loadavg_1min']):.2f}: VAE {min(a['vae_s']):.2f} s + BigVGAN "
            f"{min(a['vocoder_s']):.2f} s = {best:.2f} s (first run {a['total_s'][0]:.2f} s), "
            f"{min(a['decode_cpu_s']):.1f} CPU s; real-time factor {best / a['clip_s']:.2f} wall, "
            f"{min(a['decode_cpu_s']) / res['threads'] / a['clip_s']:.2f} from CPU time / threads; "
            f"peak RSS during the decode "
            f"{a['decode_peak_rss_mib']:,.0f} MiB.")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", action="store_true", help="dim 256, 64x64, 3 latent frames")
    ap.add_argument("--blocks", type=int, default=4, help="fused blocks kept (default 4)")
    ap.add_argument("--slg", type=int, default=2, help="fused block skipped on the uncond pass")
    ap.add_argument("--repeats", type=int, default=2, help="step runs per side (first + warm)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/ovi-bench"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bench", help="path of duet_ovi_bench (default: build/*/duet_ovi_bench)")
    ap.add_argument("--ovi-src", default="/tmp/refsrc/Ovi")
    ap.add_argument("--max-load", type=float, default=1.0)
    ap.add_argument("--max-wait", type=float, default=600)
    ap.add_argument("--no-audio", action="store_true", help="skip the audio decoder")
    ap.add_argument("--no-step", action="store_true", help="skip the joint step")
    ap.add_argument("--child", choices=["prepare", "ref-step"], help=argparse.SUPPRESS)
    ap.add_argument("--size", choices=list(SIZES), help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "prepare":
        return child_prepare(args)
    if args.child == "ref-step":
        return child_ref_step(args)

    size = "small" if args.small else "full"
    work = args.work / f"{size}-{args.blocks}blocks"
    bench = find_bench(args.bench)
    me = [sys.executable, Path(__file__).resolve()]
    common = ["--size", size, "--work", work, "--blocks", args.blocks]
    prep = me + ["--child", "prepare"] + common + (["--no-audio"] if args.no_audio else [])
    files = run_child(prep, args.threads, "prepare")
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    commit = subprocess.run(["git", "-C", "/work/.mirror/character-ai+Ovi/repo", "rev-parse",
                             "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    res = {"size": size, "blocks": args.blocks, "slg": args.slg, "geo": SIZES[size],
           "threads": args.threads, "machine": f"{cpu}, {os.cpu_count()} CPUs",
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "ovi_commit": commit}
    quiet = (args.max_load, args.max_wait)
    if not args.no_step:
        outs = {k: work / f"out_{k}.safetensors" for k in ("duet", "ovi")}
        ref = run_child(me + ["--child", "ref-step", "--out", outs["ovi"], "--threads",
                              args.threads, "--ovi-src", args.ovi_src, "--slg", args.slg,
                              "--repeats", args.repeats] + common, args.threads, "ovi", quiet)
        duet = run_child([bench, "step", "--weights", files["weights"], "--inputs",
                          files["inputs"], "--out", outs["duet"], "--threads", args.threads,
                          "--slg", args.slg, "--repeats", args.repeats],
                         args.threads, "duet", quiet)
        res["step"] = {"duet": duet, "ovi": ref, "rel_err": compare_outputs(outs["duet"], outs["ovi"])}
    if not args.no_audio:
        res["audio"] = run_child([bench, "audio", "--vae", files["vae"], "--vocoder",
                                  files["vocoder"], "--threads", args.threads, "--latents",
                                  SIZES[size]["audio_latents"]], args.threads, "duet audio", quiet)
    out_json = work / "results.json"
    out_json.write_text(json.dumps(res, indent=2, default=str))
    print()
    if "step" in res:
        print(table(res) + "\n")
    if "audio" in res:
        print(audio_table(res))
    print(f"\nresults: {out_json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
