"""Timing backends of ``scaleup measure``: PyTorch on CUDA / ROCm (or CPU, a dry run) and NumPy (CI).

Each backend turns a table point (:mod:`inference.measure.shapes`) into a list of callables, one per set of
operands, and times them the way real collectors do:

* operands rotated: enough copies that the sets together exceed ~3x the last-level cache, so no call finds
  its inputs cached (the L2 size of a GPU from its properties; 32 MiB assumed on a CPU);
* warm-up calls first (autotuning, lazy init, page faults);
* GPU: ``inner`` calls (rotating over the sets) captured in one CUDA/HIP graph, timed with device events
  around each replay: time per call = replay time / inner (the graph removes CPU launch gaps and keeps the
  in-graph gap a served decode step sees). ``mode="eager"``: the same calls launched from Python between
  two events (the eager floor: a short kernel then costs the CPU launch time);
* CPU (numpy or torch): ``time.perf_counter`` around ``inner`` calls; no graphs (``graph`` rows are timed
  eagerly and the provenance says so);
* the median of ``repeats`` samples (and the minimum) is recorded.
"""

from __future__ import annotations

import math
import platform
import re
import statistics
import time
from collections.abc import Callable

import numpy as np

from topo import SpecError

CPU_CACHE_BYTES = 32 << 20  # ASSUMPTION: last-level cache of the host CPU (only sizes the rotation)


class Backend:
    """Common timing loop; subclasses build the callables (``build``) and say what they support."""

    name = ""
    device = "cpu"
    cache_bytes = CPU_CACHE_BYTES
    max_rotation_bytes = 1 << 30
    target_sample_s = 2e-3  # each sample lasts at least this long (many calls for short kernels)

    def __init__(self, repeats: int = 7, warmup: int = 2) -> None:
        self.repeats = int(repeats)
        self.warmup = int(warmup)

    # ----------------------------------------------------------------- what the device supports
    def dtypes(self) -> tuple[str, ...]:
        raise NotImplementedError

    def default_dtypes(self) -> tuple[str, ...]:
        """GEMM dtypes measured when none are asked for: bf16 and every lower precision the device runs."""
        runs = self.dtypes()
        return tuple(d for d in ("bf16", "fp8", "fp4") if d in runs)

    def provenance(self) -> dict:
        return {"backend": self.name, "python": platform.python_version(), "numpy": np.__version__}

    # ----------------------------------------------------------------- timing
    def sets_for(self, bytes_per_set: float) -> int:
        """Operand copies to rotate over: together > 3x the cache, at most 64 and ``max_rotation_bytes``."""
        want = math.ceil(3 * self.cache_bytes / max(bytes_per_set, 1.0))
        cap = max(1, int(self.max_rotation_bytes // max(bytes_per_set, 1.0)))
        return max(1, min(64, want, cap))

    def _clock(self, calls: list[Callable[[], object]], inner: int) -> float:
        start = self._turn  # the rotation continues across samples: each call finds other operands
        t0 = time.perf_counter()
        for i in range(start, start + inner):
            calls[i % len(calls)]()
        elapsed = time.perf_counter() - t0
        self._turn = (start + inner) % len(calls)
        return elapsed / inner

    def time(self, calls: list[Callable[[], object]], mode: str = "graph") -> tuple[float, float, int]:
        """(median s per call, min s per call, repeats) of the rotated ``calls``."""
        for i in range(max(self.warmup, 1)):
            calls[i % len(calls)]()
        self._turn = 0
        est = self._clock(calls, max(1, min(len(calls), 4)))
        inner = max(1, min(10_000, math.ceil(self.target_sample_s / max(est, 1e-9))))
        samples = [self._clock(calls, inner) for _ in range(self.repeats)]
        return statistics.median(samples), min(samples), self.repeats

    def measure(self, row: dict) -> tuple[float, float, int]:
        """Time one table point (median s, min s, repeats)."""
        calls, mode = self.build(row)
        return self.time(calls, mode)

    def build(self, row: dict) -> tuple[list[Callable[[], object]], str]:
        raise NotImplementedError


# ================================================================================================ numpy
class NumpyBackend(Backend):
    """NumPy on the host CPU: the CI stand-in (tiny shapes). ``bf16``/``fp16`` run in float32 (numpy has
    no bf16 GEMM); the table says so. Not a measurement of any accelerator."""

    name = "numpy"
    device = "cpu"

    def __init__(self, repeats: int = 5, warmup: int = 2, seed: int = 0) -> None:
        super().__init__(repeats, warmup)
        self.rng = np.random.default_rng(seed)
        self.max_rotation_bytes = 256 << 20
        self.target_sample_s = 2e-4

    def dtypes(self) -> tuple[str, ...]:
        return ("bf16", "fp16", "fp32")

    def provenance(self) -> dict:
        return {**super().provenance(), "device": f"cpu ({platform.machine()}, numpy)",
                "note": "numpy backend: bf16/fp16 computed in float32, graph rows timed eagerly; a dry run, "
                        "not an accelerator measurement"}

    def _arr(self, *shape: float) -> np.ndarray:
        return self.rng.standard_normal(tuple(int(round(s)) for s in shape), dtype=np.float32)

    def build(self, row: dict) -> tuple[list[Callable[[], object]], str]:
        kind = row["kind"]
        fn = getattr(self, f"_build_{kind}")
        return fn(row), row.get("mode", "graph")

    def _rotated(self, make: Callable[[], Callable[[], object]], bytes_per_set: float) -> list:
        return [make() for _ in range(self.sets_for(bytes_per_set))]

    def _build_floor(self, row):
        a = np.zeros(1, dtype=np.float32)
        return [lambda: np.add(a, 0.0, out=a)]

    def _build_gemm(self, row):
        m, n, k = int(row["m"]), int(round(row["n"])), int(round(row["k"]))

        def make():
            a, w, c = self._arr(m, k), self._arr(k, n), np.empty((m, n), np.float32)
            return lambda: np.matmul(a, w, out=c)
        return self._rotated(make, 4.0 * (m * k + k * n + m * n))

    @staticmethod
    def _softmax_attend(q, k, v, causal: bool):
        # q (b, kvh, g, s_q, d), k/v (b, kvh, s_k, d)
        s = np.einsum("bhgqd,bhkd->bhgqk", q, k) / math.sqrt(q.shape[-1])
        if causal:
            sq, sk = s.shape[-2], s.shape[-1]
            s = np.where(np.tri(sq, sk, sk - sq, dtype=bool), s, -np.inf)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        return np.einsum("bhgqk,bhkd->bhgqd", s, v)

    def _build_attn(self, row, decode: bool):
        b, s = int(row["batch"]), int(row["seq"])
        hq, kvh, d = int(round(row["heads"])), int(row["kv_heads"]), int(row["head_dim"])
        g = max(1, hq // kvh)
        sq = 1 if decode else s

        def make():
            q, k, v = self._arr(b, kvh, g, sq, d), self._arr(b, kvh, s, d), self._arr(b, kvh, s, d)
            return lambda: self._softmax_attend(q, k, v, causal=not decode)
        return self._rotated(make, 4.0 * b * d * (hq * sq + 2 * kvh * s))

    def _build_attn_prefill(self, row):
        return self._build_attn(row, False)

    def _build_attn_decode(self, row):
        return self._build_attn(row, True)

    def _build_moe(self, row):
        t, f_all, h = int(row["m"]), int(row["n"]), int(row["k"])
        E, top, tp, ep = int(row["experts"]), int(row["top_k"]), int(row["tp"]), int(row["ep"])
        f = max(1, f_all // tp)
        local = max(1, E // ep)
        # ASSUMPTION: balanced routing (copy j of token i -> expert (i top_k + j) mod E); rank 0's experts
        ids = (np.arange(t * top) % E).reshape(t, top)
        groups = [np.nonzero((ids == e).any(1))[0] for e in range(local)]

        def make():
            x, wr = self._arr(t, h), self._arr(h, E)
            # w1 scaled by 1 / sqrt(h) (as a trained layer is): x @ w1 of std ~sqrt(h) overflowed float32's exp in
            # the SiLU ("RuntimeWarning: overflow encountered in exp" on every MoE dry run); the time is the same
            w1, w2 = self._arr(local, h, 2 * f) / np.float32(np.sqrt(h)), self._arr(local, f, h)

            def run():
                scores = x @ wr
                np.argpartition(-scores, top - 1, axis=1)[:, :top]
                out = np.zeros_like(x)
                for e, idx in enumerate(groups):
                    if len(idx):
                        u = x[idx] @ w1[e]
                        out[idx] += (u[:, :f] / (1 + np.exp(-u[:, :f])) * u[:, f:]) @ w2[e]
                return out
            return run
        return self._rotated(make, 4.0 * (local * 3 * h * f + t * h * 2))

    def _build_elementwise(self, row):
        name, t = row["name"], int(row["m"])
        if name == "rope":
            nh, d = int(round(row["heads"])) + int(row["kv_heads"]), int(row["head_dim"])

            def make():
                x, cos, sin = self._arr(t, nh, d), self._arr(t, 1, d // 2), self._arr(t, 1, d // 2)

                def run():
                    x1, x2 = x[..., : d // 2], x[..., d // 2:]
                    return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1)
                return run
            return self._rotated(make, 8.0 * t * nh * d)
        w = int(round(row["n"]))
        if name == "rmsnorm":
            def make():
                x, g = self._arr(t, w), self._arr(w)
                return lambda: x * (1.0 / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-6)) * g
            return self._rotated(make, 8.0 * t * w)
        if name == "silu_mul":
            def make():
                x = self._arr(t, 2 * w)
                return lambda: x[:, :w] / (1 + np.exp(-x[:, :w])) * x[:, w:]
            return self._rotated(make, 12.0 * t * w)
        if name == "add":
            def make():
                x, r = self._arr(t, w), self._arr(t, w)
                return lambda: np.add(x, r, out=r)
            return self._rotated(make, 12.0 * t * w)
        raise SpecError(f"kinds: unknown elementwise kernel {name!r}")

    def _build_hbm_read(self, row):
        n = int(row["bytes"] // 4)

        def make():
            a = self._arr(n)
            return lambda: a.sum()
        return self._rotated(make, 4.0 * n)

    def _build_hbm_copy(self, row):
        n = int(row["bytes"] // 8)

        def make():
            a, b = self._arr(n), np.empty(n, np.float32)
            return lambda: np.copyto(b, a)
        return self._rotated(make, 8.0 * n)


# ================================================================================================ torch
def gpu_inner(est: float, sets: int, mode: str, target_s: float) -> int:
    """Calls per timed sample on a GPU: enough that a sample lasts ``target_s`` (s) at ``est`` s per call, at
    least one pass over the ``sets`` rotated operand sets, at most 500 in a graph (capture and instantiation
    cost grows with it) and 2,000 eagerly."""
    return max(sets, min(2000 if mode == "eager" else 500, math.ceil(target_s / max(est, 1e-7))))


def torch_or_exit():
    """``import torch``, or a SpecError saying how to install the ``measure`` extra."""
    try:
        import torch
    except ImportError:
        raise SpecError("backend: PyTorch is not installed; pip install 'scaleup-sim[measure]' "
                        "(or use --backend numpy for a dry run)") from None
    return torch


_TORCH_DTYPE = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


class TorchBackend(Backend):
    """PyTorch on ``device`` (``cuda``, ``cuda:N``, ``cpu``; ROCm GPUs are ``cuda`` in torch).

    GEMMs: ``bf16``/``fp16``/``fp32`` with ``torch.matmul``; ``fp8`` (e4m3, per-tensor scales) with
    ``torch._scaled_mm`` where a probe call runs (compute capability >= 8.9, MI300; on the CPU only when asked
    for: torch's CPU kernel is a slow reference; ``m`` padded to 16 only where the build refuses other m);
    ``fp4`` with ``torch._scaled_mm`` on ``float4_e2m1fn_x2`` where a probe call runs (capability >= 10;
    experimental: a point that raises is reported as failed and skipped). Attention:
    ``scaled_dot_product_attention``: causal prefill with GQA through ``enable_gqa``; decode packs the query
    heads of each KV head as that head's queries (one token each), so K/V are read once. MoE: top-k routing,
    permutation, the experts' gate/up and down projections as two ``torch._grouped_mm`` calls (a loop of expert
    GEMMs where that is missing or raises), combine; balanced routing."""

    name = "torch"

    def __init__(self, device: str = "cuda", repeats: int = 11, warmup: int = 3, seed: int = 0) -> None:
        super().__init__(repeats, warmup)
        torch = self.torch = torch_or_exit()
        dev = str(device)
        if re.fullmatch(r"cuda(:\d+)?", dev):
            if not torch.cuda.is_available():
                raise SpecError(f"device: {dev!r} does not exist here (torch sees no CUDA/ROCm device); "
                                "use --device cpu for a dry run")
            idx = int(dev.split(":")[1]) if ":" in dev else 0
            if not 0 <= idx < torch.cuda.device_count():
                raise SpecError(f"device: {dev!r} does not exist; this machine has "
                                f"{torch.cuda.device_count()} device(s): cuda:0..cuda:{torch.cuda.device_count() - 1}")
            torch.cuda.set_device(idx)
            self.gpu = True
            props = torch.cuda.get_device_properties(idx)
            self.props = props
            self.cache_bytes = int(getattr(props, "L2_cache_size", 50 << 20) or (50 << 20))
            free, _ = torch.cuda.mem_get_info()
            self.max_rotation_bytes = int(free * 0.3)
            self.target_sample_s = 1e-3
        elif dev == "cpu":
            self.gpu = False
            # one thread: a CPU dry run on a shared host is otherwise dominated by threads waiting for a core
            torch.set_num_threads(1)
            self.max_rotation_bytes = 512 << 20
            self.target_sample_s = 2e-4
        else:
            raise SpecError(f"device: unknown device {dev!r}; use cuda, cuda:N or cpu")
        self.moe_loop_fallbacks = 0  # MoE points timed as a loop of expert GEMMs (no torch._grouped_mm)
        self.graph_fallbacks = 0  # graph-mode points whose capture raised: timed eagerly instead
        self.graph_error = ""  # the first such error, one line (reported in the run's summary)
        self.device = torch.device(dev)
        # operands drawn on the device itself (a 1 GB LM-head weight drawn on the host would take seconds)
        self.gen = torch.Generator(device=self.device).manual_seed(seed)
        self._runs: tuple[str, ...] | None = None  # GEMM dtypes this device and build run (probed once)
        self._gqa: bool | None = None  # scaled_dot_product_attention takes enable_gqa (probed once)
        self.fp8_pad_m = 1  # fp8 GEMM rows padded to a multiple of this (16 where m % 16 != 0 is refused)

    # ----------------------------------------------------------------- capabilities and provenance
    def capability(self) -> tuple[int, int]:
        return tuple(self.torch.cuda.get_device_capability(self.device)) if self.gpu else (0, 0)

    def dtypes(self) -> tuple[str, ...]:
        """GEMM dtypes this device and torch build run: bf16/fp16/fp32, and fp8 / fp4 where a tiny
        ``torch._scaled_mm`` of that dtype runs here (probed once: compute capability, ROCm arch and the
        build's kernels all decide it, so the call itself is asked)."""
        if self._runs is None:
            out = ["bf16", "fp16", "fp32"]
            if self._probe_fp8():
                out.append("fp8")
            if self._probe_fp4():
                out.append("fp4")
            self._runs = tuple(out)
        return self._runs

    def default_dtypes(self) -> tuple[str, ...]:
        # CPU dry run: bf16 only (torch's CPU fp8 GEMM is a slow reference kernel; --dtypes fp8 still runs it)
        return super().default_dtypes() if self.gpu else ("bf16",)

    def _f8(self):
        # MI300 (gfx94x) runs the "fnuz" e4m3 variant; NVIDIA and later AMD parts OCP e4m3
        arch = str(getattr(getattr(self, "props", None), "gcnArchName", ""))
        return self.torch.float8_e4m3fnuz if "gfx94" in arch else self.torch.float8_e4m3fn

    def _fp8_operands(self, m: int, n: int, k: int):
        """(a (m, k), w (n, k), scale) in e4m3 with a per-tensor scale of 1."""
        f8 = self._f8()
        return self._t(m, k).to(f8), self._t(n, k).to(f8), self.torch.ones((), device=self.device)

    def _fp8_mm(self, a, w, one):
        return self.torch._scaled_mm(a, w.t(), scale_a=one, scale_b=one, out_dtype=self.torch.bfloat16)

    def _probe_fp8(self) -> bool:
        if not hasattr(self.torch, "_scaled_mm") or not hasattr(self.torch, "float8_e4m3fn"):
            return False
        for pad in (1, 16):  # some builds refuse m % 16 != 0: then rows are padded to 16
            try:
                self._fp8_mm(*self._fp8_operands(pad, 32, 32))
                self._sync()
            except Exception:  # noqa: BLE001 - capability, arch or build without fp8 GEMMs
                continue
            self.fp8_pad_m = pad
            return True
        return False

    def _fp4_operands(self, m: int, n: int, k: int):
        """(a (m, k/2), w (n, k/2)) packed e2m1 pairs and their e4m3 block-16 scales (NVFP4 layout)."""
        torch = self.torch

        def packed(rows):
            return torch.randint(0, 255, (rows, k // 2), dtype=torch.uint8, device=self.device,
                                 generator=self.gen).view(torch.float4_e2m1fn_x2)
        sa = torch.ones(m * k // 16, device=self.device).to(torch.float8_e4m3fn)
        sb = torch.ones(n * k // 16, device=self.device).to(torch.float8_e4m3fn)
        return packed(m), packed(n), sa, sb

    def _fp4_mm(self, a, w, sa, sb):
        return self.torch._scaled_mm(a, w.t(), scale_a=sa, scale_b=sb, out_dtype=self.torch.bfloat16)

    def _probe_fp4(self) -> bool:
        # experimental: tried only where fp4 GEMMs exist (NVIDIA capability >= 10, AMD gfx95x), never on a CPU
        if not self.gpu or not hasattr(self.torch, "float4_e2m1fn_x2") or not hasattr(self.torch, "_scaled_mm"):
            return False
        arch = str(getattr(getattr(self, "props", None), "gcnArchName", ""))
        if not ("gfx95" in arch if getattr(self.torch.version, "hip", None) else self.capability() >= (10, 0)):
            return False
        try:
            self._fp4_mm(*self._fp4_operands(128, 128, 64))
            self._sync()
        except Exception:  # noqa: BLE001 - no fp4 GEMM here
            return False
        return True

    def sdpa_gqa(self) -> bool:
        """Whether ``scaled_dot_product_attention`` takes ``enable_gqa`` here (torch >= 2.5), asked by a tiny
        call (its signature cannot be inspected: it is a builtin)."""
        if self._gqa is None:
            F = self.torch.nn.functional
            try:
                q, kv = self._t(1, 4, 2, 8), self._t(1, 2, 2, 8)
                F.scaled_dot_product_attention(q, kv, kv, is_causal=True, enable_gqa=True)
                self._sync()
                self._gqa = True
            except (TypeError, RuntimeError):
                self._gqa = False
        return self._gqa

    def provenance(self) -> dict:
        torch = self.torch
        p = {**super().provenance(), "torch": torch.__version__,
             "moe_kernel": "torch._grouped_mm (a loop of expert GEMMs where it raises)"
             if hasattr(torch, "_grouped_mm") else "a loop of expert GEMMs"}
        if self.gpu:
            props = self.props
            p.update(device=props.name, capability=".".join(map(str, self.capability())),
                     sms=int(props.multi_processor_count), memory_bytes=int(props.total_memory),
                     l2_bytes=int(getattr(props, "L2_cache_size", 0) or 0), cuda=torch.version.cuda, hip=getattr(torch.version, "hip", None),
                     cudnn=torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None)
            p.update(_nvidia_smi())
        else:
            p.update(device=f"cpu ({platform.machine()}, torch)", threads=torch.get_num_threads(),
                     note="torch CPU dry run: graph rows timed eagerly; not an accelerator measurement")
        return p

    # ----------------------------------------------------------------- timing
    def _sync(self) -> None:
        if self.gpu:
            self.torch.cuda.synchronize()

    def time(self, calls, mode: str = "graph") -> tuple[float, float, int]:
        if not self.gpu:
            return super().time(calls, mode)
        torch = self.torch
        for i in range(max(self.warmup, len(calls))):
            calls[i % len(calls)]()
        self._sync()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for c in calls:
            c()
        end.record()
        end.synchronize()
        est = start.elapsed_time(end) * 1e-3 / len(calls)
        inner = gpu_inner(est, len(calls), mode, self.target_sample_s)
        run = None
        if mode == "graph":
            try:
                run = self._capture(calls, inner)
            except Exception as exc:  # noqa: BLE001 - a kernel that cannot be captured: timed eagerly below
                run = None
                self.graph_fallbacks += 1
                if not self.graph_error:
                    self.graph_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
                try:
                    self._sync()
                except Exception:  # noqa: BLE001 - the failed capture's error surfaces at the next call if sticky
                    pass
        if run is None:
            def run():
                for i in range(inner):
                    calls[i % len(calls)]()
        samples = []
        for _ in range(self.repeats):
            start.record()
            run()
            end.record()
            end.synchronize()
            samples.append(start.elapsed_time(end) * 1e-3 / inner)
        return statistics.median(samples), min(samples), self.repeats

    def _capture(self, calls, inner: int):
        """``inner`` calls (rotating over ``calls``) captured in one CUDA/HIP graph, after a warm-up pass on a
        side stream (as torch's graph docs do it); returns the graph's replay, replayed once already."""
        torch = self.torch
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for c in calls:
                c()
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for i in range(inner):
                calls[i % len(calls)]()
        g.replay()
        self._sync()
        return g.replay

    # ----------------------------------------------------------------- kernels
    def _t(self, *shape, dtype="bf16"):
        torch = self.torch
        shape = tuple(int(round(s)) for s in shape)
        return torch.randn(shape, generator=self.gen, device=self.device,
                           dtype=getattr(torch, _TORCH_DTYPE.get(dtype, "bfloat16")))

    def _rotated(self, make, bytes_per_set: float) -> list:
        return [make() for _ in range(self.sets_for(bytes_per_set))]

    def build(self, row: dict):
        fn = getattr(self, f"_build_{row['kind']}")
        return fn(row), row.get("mode", "graph")

    def _build_floor(self, row):
        a = self.torch.zeros(1, device=self.device)
        return [lambda: a.add_(0.0)]

    def _build_gemm(self, row):
        torch = self.torch
        m, n, k, dt = int(row["m"]), int(round(row["n"])), int(round(row["k"])), row["dtype"]
        if dt == "fp8":
            mp = self.fp8_pad_m * math.ceil(m / self.fp8_pad_m)

            def make():
                a, w, one = self._fp8_operands(mp, n, k)  # w row-major (n, k): w.t() is column-major
                return lambda: self._fp8_mm(a, w, one)
            return self._rotated(make, mp * k + n * k + 2 * mp * n)
        if dt == "fp4":
            mp = max(128, 128 * math.ceil(m / 128))

            def make():
                ops = self._fp4_operands(mp, n, k)
                return lambda: self._fp4_mm(*ops)
            return self._rotated(make, (mp * k + n * k) / 2 + 2 * mp * n)
        size = {"bf16": 2, "fp16": 2, "fp32": 4}[dt]

        def make():
            a, w = self._t(m, k, dtype=dt), self._t(n, k, dtype=dt)
            return lambda: torch.matmul(a, w.t())
        return self._rotated(make, size * (m * k + n * k + m * n))

    def _build_attn(self, row, decode: bool):
        torch = self.torch
        F = torch.nn.functional
        b, s = int(row["batch"]), int(row["seq"])
        hq, kvh, d = int(round(row["heads"])), int(row["kv_heads"]), int(row["head_dim"])
        sq = 1 if decode else s
        gqa = self.sdpa_gqa()

        def make():
            if decode:
                # GQA decode: the hq / kvh query heads sharing a KV head are that head's queries (one token
                # each, no mask), so K/V are read once and never repeated in memory
                q, k, v = self._t(b, kvh, hq // kvh, d), self._t(b, kvh, s, d), self._t(b, kvh, s, d)
                return lambda: F.scaled_dot_product_attention(q, k, v)
            q, k, v = self._t(b, hq, sq, d), self._t(b, kvh, s, d), self._t(b, kvh, s, d)
            if gqa:
                return lambda: F.scaled_dot_product_attention(q, k, v, is_causal=not decode, enable_gqa=True)
            rep = hq // kvh
            return lambda: F.scaled_dot_product_attention(q, k.repeat_interleave(rep, 1),
                                                          v.repeat_interleave(rep, 1), is_causal=not decode)
        return self._rotated(make, 2.0 * b * d * (2 * hq * sq + 2 * kvh * s))

    def _build_attn_prefill(self, row):
        return self._build_attn(row, False)

    def _build_attn_decode(self, row):
        return self._build_attn(row, True)

    def _build_moe(self, row):
        torch = self.torch
        t, f_all, h = int(row["m"]), int(row["n"]), int(row["k"])
        E, top, tp, ep = int(row["experts"]), int(row["top_k"]), int(row["tp"]), int(row["ep"])
        f = max(1, f_all // tp)
        local = max(1, E // ep)
        # ASSUMPTION: balanced routing (copy j of token i -> expert (i top_k + j) mod E); this rank holds
        # experts 0 .. local-1. The copies routed here, sorted by expert (the permutation engines do)
        expert = (torch.arange(t * top) % E).reshape(t, top)
        tok, slot = torch.nonzero(expert < local, as_tuple=True)
        order = torch.argsort(expert[tok, slot], stable=True)
        perm = tok[order].to(self.device)
        counts = torch.bincount(expert[tok, slot], minlength=local)
        offs = torch.cumsum(counts, 0).to(torch.int32).to(self.device)
        groups = [perm[int(a):int(b)] for a, b in zip([0, *offs.tolist()[:-1]], offs.tolist())]
        F = torch.nn.functional
        grouped = getattr(torch, "_grouped_mm", None)

        def make():
            x, wr = self._t(t, h), self._t(E, h)
            w1, w2 = self._t(local, 2 * f, h), self._t(local, h, f)  # (n, k) per expert: .mT is column-major

            def run_grouped():
                torch.topk(x @ wr.t(), top, dim=1)
                out = torch.zeros_like(x)
                if len(perm):
                    u = grouped(x.index_select(0, perm), w1.mT, offs=offs)
                    out.index_add_(0, perm, grouped(F.silu(u[:, :f]) * u[:, f:], w2.mT, offs=offs))
                return out

            def run_loop():
                torch.topk(x @ wr.t(), top, dim=1)
                out = torch.zeros_like(x)
                for e, idx in enumerate(groups):
                    if len(idx):
                        u = x.index_select(0, idx) @ w1[e].t()
                        out.index_add_(0, idx, (F.silu(u[:, :f]) * u[:, f:]) @ w2[e].t())
                return out

            if grouped is not None:
                try:  # one grouped GEMM per projection (torch._grouped_mm), as MoE kernels run it
                    run_grouped()
                    return run_grouped
                except Exception:  # noqa: BLE001 - a layout or alignment the build refuses: one GEMM per expert
                    self.moe_loop_fallbacks += 1
            return run_loop
        return self._rotated(make, 2.0 * (local * 3 * h * f + 2 * t * h))

    def _build_elementwise(self, row):
        torch = self.torch
        F = torch.nn.functional
        name, t = row["name"], int(row["m"])
        if name == "rope":
            nh, d = int(round(row["heads"])) + int(row["kv_heads"]), int(row["head_dim"])

            def make():
                x, cos, sin = self._t(t, nh, d), self._t(t, 1, d // 2), self._t(t, 1, d // 2)

                def run():
                    x1, x2 = x[..., : d // 2], x[..., d // 2:]
                    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1)
                return run
            return self._rotated(make, 4.0 * t * nh * d)
        w = int(round(row["n"]))
        if name == "rmsnorm":
            rms = getattr(F, "rms_norm", None)

            def make():
                x, g = self._t(t, w), self._t(w)
                if rms is not None:
                    return lambda: rms(x, (w,), g, 1e-6)
                return lambda: x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + 1e-6).to(x.dtype) * g
            return self._rotated(make, 4.0 * t * w)
        if name == "silu_mul":
            def make():
                x = self._t(t, 2 * w)
                return lambda: F.silu(x[:, :w]) * x[:, w:]
            return self._rotated(make, 6.0 * t * w)
        if name == "add":
            def make():
                x, r = self._t(t, w), self._t(t, w)
                return lambda: r.add_(x)
            return self._rotated(make, 6.0 * t * w)
        raise SpecError(f"kinds: unknown elementwise kernel {name!r}")

    def _build_hbm_read(self, row):
        n = int(row["bytes"] // 2)

        def make():
            a = self.torch.ones(n, dtype=self.torch.bfloat16, device=self.device)
            return lambda: a.sum()
        return self._rotated(make, 2.0 * n)

    def _build_hbm_copy(self, row):
        n = int(row["bytes"] // 4)

        def make():
            a = self.torch.ones(n, dtype=self.torch.bfloat16, device=self.device)
            b = self.torch.empty_like(a)
            return lambda: b.copy_(a)
        return self._rotated(make, 4.0 * n)


def _nvidia_smi() -> dict:
    """Driver version and clocks from nvidia-smi (empty when it is absent, e.g. ROCm)."""
    import shutil
    import subprocess

    exe = shutil.which("nvidia-smi")
    if exe is None:
        return {}
    q = "driver_version,clocks.sm,clocks.max.sm,clocks.mem,power.limit"
    try:
        out = subprocess.run([exe, f"--query-gpu={q}", "--format=csv,noheader,nounits", "-i", "0"],
                             capture_output=True, text=True, timeout=10).stdout.strip().split(", ")
    except (OSError, subprocess.SubprocessError):
        return {}
    keys = ["driver", "sm_clock_mhz", "sm_clock_max_mhz", "mem_clock_mhz", "power_limit_w"]
    return dict(zip(keys, out)) if len(out) == len(keys) else {}


def make_backend(backend: str, device: str, repeats: int | None = None, seed: int = 0) -> Backend:
    """The backend ``backend`` (``torch`` / ``numpy`` / ``auto``) on ``device``.

    Raises:
        SpecError: an unknown backend or device, a device that does not exist, torch absent for ``torch``."""
    if backend not in ("auto", "torch", "numpy"):
        raise SpecError(f"backend: must be auto, torch or numpy, got {backend!r}")
    if device != "cpu" and not re.fullmatch(r"cuda(:\d+)?", str(device)):
        raise SpecError(f"device: unknown device {device!r}; use cuda, cuda:N or cpu")
    if backend == "auto":
        try:
            import torch  # noqa: F401

            backend = "torch"
        except ImportError:
            if device != "cpu":
                torch_or_exit()
            backend = "numpy"
    if backend == "numpy":
        if device != "cpu":
            raise SpecError(f"device: the numpy backend runs on the host only; use --device cpu, got {device!r}")
        return NumpyBackend(repeats=repeats or 5, seed=seed)
    return TorchBackend(device, repeats=repeats or (11 if device != "cpu" else 5), seed=seed)
