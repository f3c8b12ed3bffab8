"""Chip and switch presets with their public sources.

Every figure is peak and *dense* (no structured sparsity) unless said otherwise; SI units (FLOP/s,
bytes, bytes/s, watts). ``port_bandwidth`` is bytes/s per direction per scale-up port. Figures that are
not public are marked ASSUMPTION in the comment next to them, with the reason for the value chosen.

Sources (short names used below):
- [maia200] Microsoft Maia 200 launch (Jan 2026) as reported by glennklockwood.com/garden/processors/Maia-200,
  etn.fi, itc.ua, lemondeinformatique.fr, Techzine Global: >10 PFLOP/s FP4, >5 PFLOP/s FP8, 216 GB HBM3e at
  ~7 TB/s, 272 MB on-die SRAM, 750 W, 2.8 TB/s bidirectional scale-up (1.4 TB/s per direction),
  trays of 4, two-tier Ethernet scale-up up to 6,144 accelerators.
- [maia100] Microsoft, "Inside Maia 100", Hot Chips 2024 (slides; glennklockwood.com/garden/processors/maia-100):
  dense tensor 3 POPS (6-bit), 1.5 POPS (9-bit), 0.8 PFLOP/s BF16; 64 GB HBM2E at 1.8 TB/s; 500 MB L1/L2;
  12 x 400 GbE; 700 W design TDP (500 W provisioned).
- [h100] NVIDIA H100 Tensor Core GPU datasheet (SXM5): FP8 1,979 / BF16 989 / TF32 494.5 / FP32 67 TFLOP/s
  dense (the datasheet's 3,958 FP8 figure is with sparsity); 80 GB HBM3, 3.35 TB/s; 700 W; NVLink 4 900 GB/s
  bidirectional = 18 links x 25 GB/s per direction.
- [h200] NVIDIA H200 datasheet: compute as H100 SXM; 141 GB HBM3e at 4.8 TB/s; 700 W; NVLink 900 GB/s.
- [b200] NVIDIA HGX/DGX B200 datasheets (per-GPU = system / 8, sparse / 2): FP4 9 / FP8 4.5 / BF16 2.25
  PFLOP/s dense, TF32 1.1 PFLOP/s, FP32 600 TFLOP/s per 8 GPUs = 75 per GPU (the Blackwell technical brief,
  as tabulated by glennklockwood.com/garden/processors/B200, gives 80 for the 1,000 W HGX part); "180 GB"
  HBM3e per GPU (1,440 GB per DGX B200; see the hbm_bytes note), 8 TB/s (64 TB/s per DGX B200); 1,000 W;
  NVLink 5 1.8 TB/s bidirectional = 18 links x 50 GB/s per direction.
- [gb200] NVIDIA GB200 NVL72 datasheet (72 GPUs, sparse / 2): FP4 1,440 / FP8 720 / BF16 360 PFLOP/s sparse
  per rack = 10 / 5 / 2.5 PFLOP/s dense per GPU; up to 13.4 TB HBM3e (186 GB per GPU) at 576 TB/s (8 TB/s per
  GPU); the B200 of a GB200 runs at 1,200 W (glennklockwood.com/garden/processors/B200, from NVIDIA's
  Blackwell technical brief: FP32 90 TFLOP/s, FP64 45); NVLink 5 as [b200].
- [mi300x] AMD Instinct MI300X datasheet: FP8 2,614.9 / INT8 2,614.9 / BF16 1,307.4 / FP32 (matrix) 163.4
  TFLOP/s dense; AMD CDNA 3 white paper: 256 MB Infinity Cache at 17.2 TB/s peak;
  192 GB HBM3 at 5.3 TB/s; 750 W; 7 Infinity Fabric links, 896 GB/s aggregate bidirectional peer to peer
  (64 GB/s per direction per link).
- [v5p] Google Cloud TPU v5p docs (docs.cloud.google.com/tpu/docs/v5p): 459 TFLOP/s BF16 and 459 FP8 per chip,
  95 GiB usable HBM (96 GiB physical), 2,765 GB/s (= 2,575 GiB/s); ICI 1,200 GB/s bidirectional per chip
  (older revisions: "4,800 Gbps"), 3D torus, 8,960 chips per pod. INT8 918 TOPS: Google Cloud v5p launch
  blog (Dec 2023).
- [ironwood] Google Cloud TPU7x (Ironwood) docs (docs.cloud.google.com/tpu/docs/tpu7x): 2,307 TFLOP/s BF16 and
  4,614 FP8 per chip, "192 GiB" HBM per chip, 9,216 chips per pod. Google blog / Cloud Next 2025 (also
  nextplatform.com 2025-04-09): 192 GB HBM3e at 7.37 TB/s, ICI 1.2 TB/s bidirectional; Hot Chips 2025
  (TechRadar): 1.77 PB of HBM per 9,216-chip pod, ~7.3 TB/s per chip.
- [trn2] AWS Neuron docs, "Trainium2 Architecture" (awsdocs-neuron.readthedocs-hosted.com): 1,299 FP8,
  667 BF16/FP16/TF32, 181 FP32 TFLOP/s dense; 96 GiB HBM at 2.9 TB/s; SBUF 224 MiB (8 NeuronCore-v3 x 28);
  NeuronLink-v3 1.28 TB/s per chip; "Trainium2 Architecture Guide for NKI": 4 NeuronLink-v3 per chip.
"""

from __future__ import annotations

from .errors import SpecError
from .specs import ChipSpec, SwitchSpec

T = 1e12
P = 1e15
GB = 1e9
GIB = 2.0**30
MB = 1e6

CHIPS: dict[str, ChipSpec] = {
    "maia200": ChipSpec(
        name="maia200",
        flops={
            "fp4": 10.0 * P,  # [maia200] "over 10 PFLOP/s" FP4: the public lower bound
            "fp8": 5.0 * P,  # [maia200] "over 5 PFLOP/s" FP8: the public lower bound
            # ASSUMPTION: no public BF16 figure; the matrix engine is FP8/FP6/FP4 and BF16 runs on the vector
            # engine (glennklockwood.com). We take 1/4 of FP8 (1.25 PFLOP/s), the FP8:BF16 ratio of a
            # matrix engine that upcasts BF16 in two passes; change with ChipSpec.replace if you know better.
            "bf16": 1.25 * P,
            "fp32": 0.3125 * P,  # ASSUMPTION: 1/4 of the BF16 assumption (vector engine)
        },
        hbm_bytes=216 * GB,  # [maia200] 216 GB HBM3e (6 x 36 GB 12-high)
        hbm_bandwidth=7.0 * T,  # [maia200] ~7 TB/s
        sram_bytes=272 * MB,  # [maia200] 272 MB on-die SRAM (cluster + tile)
        # ASSUMPTION: SRAM bandwidth is not public; 4x HBM bandwidth, a conservative figure for on-die SRAM
        sram_bandwidth=28.0 * T,
        tdp=750.0,  # [maia200] 750 W
        # ASSUMPTION (port split not public): 28 x 400 GbE per chip = 28 x 50 GB/s = 1.4 TB/s per direction,
        # matching the public 2.8 TB/s bidirectional figure
        ports=28,
        port_bandwidth=50 * GB,
        source="Microsoft Maia 200 launch materials (see topo/presets.py); bf16/fp32, SRAM bw, ports assumed",
    ),
    "maia100": ChipSpec(
        name="maia100",
        # [maia100] 6-bit 3 POPS, 9-bit 1.5 POPS, BF16 0.8 PFLOP/s dense. We map MX6 -> fp6, MX9 -> fp8 (the
        # 9-bit MX format carries 8-bit mantissas with a shared exponent; closest scaleup dtype).
        flops={"fp6": 3.0 * P, "fp8": 1.5 * P, "bf16": 0.8 * P},
        hbm_bytes=64 * GB,  # [maia100] 64 GB HBM2E
        hbm_bandwidth=1.8 * T,  # [maia100] 1.8 TB/s
        sram_bytes=500 * MB,  # [maia100] 500 MB L1/L2
        sram_bandwidth=7.2 * T,  # ASSUMPTION: 4x HBM bandwidth (not public)
        tdp=700.0,  # [maia100] design TDP 700 W (500 W provisioned)
        ports=12,  # [maia100] 12 x 400 GbE
        port_bandwidth=50 * GB,
        source="Microsoft, Inside Maia 100, Hot Chips 2024; SRAM bandwidth assumed",
    ),
    "h100-sxm": ChipSpec(
        name="h100-sxm",
        flops={"fp8": 1979 * T, "int8": 1979 * T, "bf16": 989 * T, "fp16": 989 * T, "fp32": 67 * T},  # [h100]
        hbm_bytes=80 * GB,
        hbm_bandwidth=3.35 * T,
        sram_bytes=50 * MB,  # [h100] 50 MB L2 cache
        sram_bandwidth=12 * T,  # ASSUMPTION: L2 bandwidth not in the datasheet; ~12 TB/s from microbenchmarks
        tdp=700.0,
        ports=18,  # [h100] 18 NVLink 4 links
        port_bandwidth=25 * GB,  # 25 GB/s per direction per link (900 GB/s bidirectional total)
        source="NVIDIA H100 datasheet (SXM5), dense figures; L2 bandwidth assumed",
    ),
    "h200": ChipSpec(
        name="h200",
        flops={"fp8": 1979 * T, "int8": 1979 * T, "bf16": 989 * T, "fp16": 989 * T, "fp32": 67 * T},  # [h200]
        hbm_bytes=141 * GB,
        hbm_bandwidth=4.8 * T,
        sram_bytes=50 * MB,
        sram_bandwidth=12 * T,  # ASSUMPTION: as H100
        tdp=700.0,
        ports=18,
        port_bandwidth=25 * GB,
        source="NVIDIA H200 datasheet, dense figures; L2 bandwidth assumed",
    ),
    "b200": ChipSpec(
        name="b200",
        flops={"fp4": 9 * P, "fp6": 4.5 * P, "fp8": 4.5 * P, "int8": 4.5 * P, "bf16": 2.25 * P,
               "fp16": 2.25 * P, "fp32": 0.075 * P},  # [b200] dense; fp32 = 75 TFLOP/s (non-tensor)
        # [b200] 192 GB physical (8 x 24 GB stacks); an HGX B200 GPU exposes ~179 GiB = 192e9 B (nvidia-smi, as
        # shown in docs.vultr.com's HGX B200 overview: "179 GB"). ASSUMPTION: the datasheet's "180 GB" is that
        # figure in binary units, so 192e9 B is kept as the usable capacity.
        hbm_bytes=192 * GB,
        hbm_bandwidth=8.0 * T,  # [b200]
        sram_bytes=126 * MB,  # ASSUMPTION: L2 size as commonly reported for B200 (two dies)
        sram_bandwidth=20 * T,  # ASSUMPTION: not public
        tdp=1000.0,
        ports=18,  # [b200] 18 NVLink 5 links
        port_bandwidth=50 * GB,  # 50 GB/s per direction per link (1.8 TB/s bidirectional)
        source="NVIDIA HGX/DGX B200 datasheets, per GPU, dense; L2 figures assumed",
    ),
    "gb200": ChipSpec(
        name="gb200",
        # [gb200] the B200 GPU of a GB200 superchip (NVL72), per GPU, dense, at its 1,200 W configuration
        flops={"fp4": 10 * P, "fp6": 5 * P, "fp8": 5 * P, "int8": 5 * P, "bf16": 2.5 * P, "fp16": 2.5 * P,
               "fp32": 0.09 * P},
        hbm_bytes=186 * GB,  # [gb200] 13.4 TB HBM3e per 72 GPUs
        hbm_bandwidth=8.0 * T,  # [gb200] 576 TB/s per 72 GPUs
        sram_bytes=126 * MB,  # ASSUMPTION: as b200
        sram_bandwidth=20 * T,  # ASSUMPTION: as b200 (not public)
        tdp=1200.0,  # [gb200] 1,200 W per GPU
        ports=18,  # [b200] 18 NVLink 5 links
        port_bandwidth=50 * GB,
        source="NVIDIA GB200 NVL72 datasheet and Blackwell technical brief, per GPU, dense; L2 figures assumed",
    ),
    "mi300x": ChipSpec(
        name="mi300x",
        flops={"fp8": 2614.9 * T, "int8": 2614.9 * T, "bf16": 1307.4 * T, "fp16": 1307.4 * T,
               "fp32": 163.4 * T},  # [mi300x] dense
        hbm_bytes=192 * GB,
        hbm_bandwidth=5.3 * T,
        sram_bytes=256 * MB,  # [mi300x] 256 MB Infinity Cache
        sram_bandwidth=17.2 * T,  # [mi300x] peak Infinity Cache bandwidth 17.2 TB/s (AMD CDNA 3 white paper)
        tdp=750.0,
        ports=7,  # [mi300x] 7 Infinity Fabric links (one to each peer in an 8-GPU platform)
        port_bandwidth=64 * GB,  # 896 GB/s bidirectional aggregate / 7 / 2
        source="AMD Instinct MI300X datasheet and CDNA3 white paper, dense",
    ),
    "tpu-v5p": ChipSpec(
        name="tpu-v5p",
        flops={"fp8": 459 * T, "int8": 918 * T, "bf16": 459 * T},  # [v5p]; int8 918 TOPS (v5p launch blog)
        hbm_bytes=95 * GIB,  # [v5p] 95 GiB usable
        hbm_bandwidth=2.765 * T,
        sram_bytes=0.0,  # not public
        tdp=0.0,  # not public
        # [v5p] 1,200 GB/s bidirectional ICI per chip over 6 torus links -> 100 GB/s per direction per link
        ports=6,
        port_bandwidth=100 * GB,
        source="Google Cloud TPU v5p documentation",
    ),
    "ironwood": ChipSpec(
        name="ironwood",
        flops={"fp8": 4614 * T, "bf16": 2307 * T},  # [ironwood] TPU7x docs: 4,614 FP8, 2,307 BF16 dense
        # [ironwood] 192 GB: the pod's 1.77 PB of HBM over 9,216 chips (Hot Chips 2025, as reported by TechRadar)
        # is 192e9 B per chip; the TPU7x docs table labels the same 192 "GiB" (taken as loose units)
        hbm_bytes=192 * GB,
        hbm_bandwidth=7.37 * T,  # [ironwood] 7.37 TB/s (Google blog, Cloud Next 2025)
        tdp=0.0,  # not public per chip
        # [ironwood] 1.2 TB/s bidirectional ICI; ASSUMPTION: 6 torus links like v5p -> 100 GB/s per direction
        ports=6,
        port_bandwidth=100 * GB,
        source="Google Cloud TPU7x docs and Cloud Next 2025 Ironwood figures; ICI link split assumed",
    ),
    "trainium2": ChipSpec(
        name="trainium2",
        flops={"fp8": 1299 * T, "bf16": 667 * T, "fp16": 667 * T, "fp32": 181 * T},  # [trn2] dense
        hbm_bytes=96 * GIB,
        hbm_bandwidth=2.9 * T,
        sram_bytes=224 * 2.0**20,  # [trn2] SBUF 224 MiB = 8 NeuronCore-v3 x 28 MiB
        sram_bandwidth=0.0,
        tdp=0.0,  # not public
        # [trn2] NeuronLink-v3 1.28 TB/s per chip over 4 NeuronLink-v3. ASSUMPTION: the figure is bidirectional
        # (AWS does not say) -> 640 GB/s per direction, 160 GB/s per direction per link
        ports=4,
        port_bandwidth=160 * GB,
        source="AWS Neuron Trainium2 architecture docs; NeuronLink split assumed",
    ),
}

#: Switch presets. Latency figures are port-to-port, from the vendors' public material where cited.
SWITCHES: dict[str, SwitchSpec] = {
    # 51.2 Tb/s Ethernet switch ASIC (Broadcom Tomahawk 5 class: 64 x 800G or 128 x 400G). Tomahawk 5 is
    # quoted at < 1 us port-to-port; ASSUMPTION: 600 ns cut-through latency used for scale-up Ethernet.
    "eth-51.2t-128x400g": SwitchSpec(radix=128, port_bandwidth=50e9, latency=600e-9, name="51.2T Ethernet 128x400G"),
    # 51.2 Tb/s Ethernet built for scale-up (Broadcom Tomahawk Ultra class): quoted at 250 ns port to port
    # (Broadcom press release, July 2025). Used by maia200.yaml (that Maia uses this class is an assumption).
    "eth-51.2t-scaleup": SwitchSpec(radix=128, port_bandwidth=50e9, latency=250e-9, name="51.2T scale-up Ethernet"),
    "eth-51.2t-64x800g": SwitchSpec(radix=64, port_bandwidth=100e9, latency=600e-9, name="51.2T Ethernet 64x800G"),
    # 25.6 Tb/s Ethernet (Tomahawk 4 class) 64 x 400G, as used under Maia 100 (assumption: same latency).
    "eth-25.6t-64x400g": SwitchSpec(radix=64, port_bandwidth=50e9, latency=600e-9, name="25.6T Ethernet 64x400G"),
    # NVSwitch gen 3 (DGX H100): 64 NVLink 4 ports of 25 GB/s per direction, NVLink SHARP in-network reduction.
    # ASSUMPTION: ~100 ns of switch latency (NVIDIA does not publish port-to-port latency).
    # Reduction rate calibrated, not published: NVLS all-reduce on 8 x H100 peaks at algbw ~275 GB/s per GPU
    # (NCCL maintainer, github.com/NVIDIA/nccl-tests/issues/212) over 18 NVLink ports: 275/18 = 15.3 GB/s per port.
    "nvswitch3": SwitchSpec(radix=64, port_bandwidth=25e9, latency=100e-9, in_network_reduction=True,
                            name="NVSwitch gen3", reduction_bandwidth=275e9 / 18),
    # NVSwitch gen 4 (GB200 NVL72 switch tray chip): 72 NVLink 5 ports of 50 GB/s per direction, SHARP.
    # ASSUMPTION: 100 ns latency as gen 3. Reduction rate calibrated: a 72-GPU all_reduce_perf on GB200 NVL72
    # peaks at algbw ~425 GB/s (github.com/coreweave/nccl-tests pull 43), over 18 ports: 23.6 GB/s per port.
    "nvswitch4": SwitchSpec(radix=72, port_bandwidth=50e9, latency=100e-9, in_network_reduction=True,
                            name="NVSwitch gen4", reduction_bandwidth=425e9 / 18),
    # InfiniBand NDR (Quantum-2 class): 64 x 400 Gb/s, SHARPv3 in-network reduction. ASSUMPTION: 200 ns;
    # ASSUMPTION: SHARP reduces at line rate (reduction_bandwidth None; no public per-port figure used).
    "ib-ndr-64x400g": SwitchSpec(radix=64, port_bandwidth=50e9, latency=200e-9, in_network_reduction=True,
                                 name="InfiniBand NDR 64x400G"),
}


def chip_preset(name: str) -> ChipSpec:
    """The :class:`ChipSpec` preset called ``name`` (see :data:`CHIPS`).

    Raises:
        SpecError: if the name is unknown, listing the known ones.
    """
    try:
        return CHIPS[str(name).lower()]
    except KeyError:
        raise SpecError(f"chip: unknown preset {name!r}; known: {', '.join(sorted(CHIPS))}") from None


def switch_preset(name: str) -> SwitchSpec:
    """The :class:`SwitchSpec` preset called ``name`` (see :data:`SWITCHES`)."""
    try:
        return SWITCHES[str(name).lower()]
    except KeyError:
        raise SpecError(f"switch: unknown preset {name!r}; known: {', '.join(sorted(SWITCHES))}") from None
