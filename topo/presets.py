"""Chip and switch presets with their public sources.

Every figure is peak and *dense* (no structured sparsity) unless said otherwise; SI units (FLOP/s,
bytes, bytes/s, watts). ``port_bandwidth`` is bytes/s per direction per scale-up port. Figures that are
not public are marked ASSUMPTION in the comment next to them, with the reason for the value chosen.

Sources (short names used below):
- [maia200] Microsoft Maia 200 launch (Jan 2026) as reported by glennklockwood.com/garden/processors/Maia-200,
  etn.fi, itc.ua, lemondeinformatique.fr, Techzine Global: >10 PFLOP/s FP4, >5 PFLOP/s FP8, 216 GB HBM3e at
  ~7 TB/s, 272 MB on-die SRAM, 750 W, 2.8 TB/s bidirectional scale-up (1.4 TB/s per direction),
  trays of 4, two-tier Ethernet scale-up up to 6,144 accelerators.
- [maia200-hc38] Xu et al., "Maia 200: A Software Defined Dataflow System for Large-scale AI Acceleration",
  arXiv 2608.24664 (Hot Chips 38, 2026-08-25) and the Microsoft Tech Community post of the same date, as quoted
  parameter by parameter by the public notes github.com/Yufeng98/AI-datacenter
  chips/microsoft-maia/hw-architecture.md sections 1-4, 6 and 9 (as of 2026-09-13): SECONDARY, quoting the paper.
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
- [trn3] aws-neuron/aws-neuron-sdk@6e694cb about-neuron/arch/neuron-hardware/trainium3.rst and trn3-arch.rst
  (Dec 2025), neuron-core-v4.rst; nki/guides/architecture/trainium3_arch.rst (Mar 2026).
- [cs3] Cerebras WSE-3 / CS-3 launch (2024-03-13; tweaktown.com, nextbigfuture.com), Argonne SC24 tutorial and
  ALCF user guide, The Register (Hot Chips 2024), vengineer.hatenablog.com (12 x 100 GbE).
- [groq] Groq ISCA 2022 (doi 10.1145/3470496.3527405), ALCF GroqRack docs (argonne-lcf/user-guides),
  linleygroup.com newsletter 6233 (2020), nextplatform.com 2020-09-29, techpowerup.com (2024-02).
  All compiled with their tags in ../shared/reference/seed_systems.md.

Price basis (``capex``, ``host_power``; one basis for every preset, docs/inference.md "Energy and cost"):
SYSTEM CAPEX PER ACCELERATOR = the accelerator plus its share of the server or rack it ships in (host CPUs and
memory, NICs, the scale-up switches: NVSwitch trays, NeuronSwitch, ...), not the building, not the scale-out
network. ``host_power`` is that system's power per accelerator minus ``tdp`` (host, NICs, switches), so the
cost model charges ``ChipSpec.system_power`` = ``tdp + host_power`` on the same basis.
- Where a public figure is a whole system (GB200 NVL72 rack, CS-3) it is divided by its accelerators.
- Where it is an accelerator-only price (H100, H200, B200 street prices; MI300X; the GroqCard list price), it is
  multiplied by [epoch-server] 1.64, the server-to-chip cost ratio Epoch AI applies to GPU servers (DGX-class
  list price / GPU price; A100 1.66, V100 1.69, P100 1.54). Check: DGX B200 ~$515,000 at launch
  (vengineer.hatenablog.com, 2025-03-16) / 8 = $64,400 vs B200 $40,000 x 1.64 = $65,600; an HGX H100 with
  8 x 400G NICs was quoted at ~$317,000 (Thinkmate, Aug 2024, via a public cost sheet) / 8 = $39,600, below
  $30,000 x 1.64 = $49,200 (H100 prices have moved; +-20-40% holds for all of these).
- Chips sold by no one (Maia, Trainium, TPU) keep an ASSUMPTION, derived the same way: an accelerator cost at
  cost (no GPU-vendor margin) x 1.64.
- Switches outside that server or rack (Maia 200's tier-0 / tier-1 Ethernet planes) are not in ``capex``: a
  fabric file prices them in its ``cost:`` block (:mod:`topo.netcost`, counted from the graph and added to a
  capex-derived $/chip-hour); a fabric whose switches this price holds (DGX, NVL72, UltraServer) says
  ``cost: included``.
- Power: DGX H100 / H200 10.2 kW and DGX B200 14.3 kW per 8 GPUs (NVIDIA datasheets), GB200 NVL72 ~120 kW per
  72 GPUs (press, 120-132 kW); where no system power is public, [epoch-server] chip_to_server_power 1.8
  (host_power = 0.8 x TDP; DGX H100 gives 1.82).
- [epoch-server] github.com/epoch-research/training-cost-trends, training_cost_trends/hardware.py
  (get_server_cost_overhead, chip_to_server_power).
"""

from __future__ import annotations

from .errors import SpecError
from .specs import ChipSpec, CommSpec, SwitchSpec

T = 1e12
P = 1e15
GB = 1e9
GIB = 2.0**30
MB = 1e6

#: the price basis of both Maia 200 presets (one chip at two configurations)
_MAIA200_PRICE = ("ASSUMPTION: system capex per accelerator; Microsoft sells no Maia and publishes no cost; "
                  "~$12,000 per chip at cost (about 2x a B200-class manufacturing cost of ~$6,400, "
                  "siliconanalysts.com cost bridge: a design-partner margin, no GPU-vendor margin) x 1.64 "
                  "server share [epoch-server] = ~$20,000; sensitivity: $/Mtok moves with the capex share")

CHIPS: dict[str, ChipSpec] = {
    # Maia 200 as Microsoft described it at Hot Chips 38 [maia200-hc38] (figures quoted by the secondary notes),
    # launch figures [maia200] where the paper does not restate them. Chip: 2 GHz, 4 clusters x 10 tiles (9
    # enabled per cluster in the paper's benchmarks: 36 tiles); per tile a tensor unit (MACs/cycle FP4 65,536,
    # FP8/FP6 32,768, BF16 8,192) and a vector unit (256 lanes <= 16-bit, 3.07 TFLOP/s; 128 lanes FP32, 1.54).
    # Two peak sets, both stated by the paper and not reconciled by it:
    #   headline (abstract, 750 W): FP4 10,145 / FP8 5,072 TFLOP/s (= 40 tiles at ~1.94 GHz);
    #   benchmark configuration (36 tiles, unthrottled): BF16 1,180 / FP8 4,785 TFLOP/s.
    # DEFAULT: the benchmark configuration, because the measured matmul efficiencies below were measured on it
    # (headline peaks x 96% would exceed the 36-tile peak). The headline peaks: chip preset maia200-headline.
    "maia200": ChipSpec(
        name="maia200",
        flops={
            "fp8": 4785 * T,  # [maia200-hc38] benchmark configuration, 36 tiles
            "fp6": 4785 * T,  # [maia200-hc38] FP6 runs at the FP8 MAC rate (32,768 MACs/cycle per tile)
            # derived: FP4 MACs/cycle are 2x FP8's (65,536 vs 32,768), so 2 x 4,785 in the same configuration
            "fp4": 2 * 4785 * T,
            "bf16": 1180 * T,  # [maia200-hc38] benchmark configuration (= 36 x 8,192 x 2 x 2 GHz)
            "fp32": 36 * 1.54 * T,  # derived: 36 vector units x 1.54 TFLOP/s FP32 [maia200-hc38]
        },
        hbm_bytes=216 * GB,  # [maia200] 216 GB HBM3e (secondary: TrendForce; the paper gives no capacity)
        hbm_bandwidth=7.0 * T,  # [maia200-hc38] 7 TB/s, 6 HBM3e stacks (the paper's intro says 7 TiB/s: 7 TB/s kept)
        # [maia200] 272 MB on-die SRAM (launch); the paper's tiers sum to 36 x 3 MiB + 4 x 35 MB = 253 MB enabled
        # (266 MB with all 40 tiles): the two sources are not reconciled, the launch total is kept for placement
        sram_bytes=272 * MB,
        # ASSUMPTION: SRAM bandwidth is not public; 4x HBM bandwidth, a conservative figure for on-die SRAM
        sram_bandwidth=28.0 * T,
        tdp=750.0,  # [maia200] [maia200-hc38] 750 W SoC TDP
        # [maia200-hc38] 28 x 400 GbE integrated AI Network Controllers = 1.4 TB/s full duplex (20 tray + 8 switched)
        ports=28,
        port_bandwidth=50 * GB,
        # [maia200-hc38] measured matmul: up to 99.7% (BF16) / 96% (FP8) of peak when compute-bound, 51.4% (BF16) /
        # 56% (FP8) of peak HBM bandwidth when memory-bound. The FP8 pair is the calibrated default (scaleup
        # infer's default dtype is fp8); BF16 runs: ChipSpec.replace(compute_efficiency=0.997,
        # memory_efficiency=0.514). Validation: none of these is fitted; they are the paper's measurements.
        compute_efficiency=0.96,
        memory_efficiency=0.56,
        cores=36,  # [maia200-hc38] 4 clusters x 9 enabled tiles (10 physical per cluster)
        clusters=4,  # [maia200-hc38]
        core_sram_bytes=3 * 2.0**20,  # [maia200-hc38] 3 MiB tile SRAM (TSRAM)
        cluster_sram_bytes=35 * MB,  # [maia200-hc38] 35 MB cluster SRAM (CSRAM)
        source="Microsoft Maia 200, Hot Chips 38 / arXiv 2608.24664 (secondary notes, see topo/presets.py), benchmark "
               "configuration (36 tiles); launch figures for HBM capacity and SRAM total; SRAM bandwidth assumed",
        capex=20_000.0,  # $ system capex per accelerator, see price_source
        host_power=600.0,  # ASSUMPTION: no Maia server power is public; 0.8 x TDP [epoch-server]
        price_source=_MAIA200_PRICE,
    ),
    # The same chip at the paper's headline peaks (abstract: 10,145 FP4 / 5,072 FP8 TFLOP/s within 750 W, i.e. all
    # 40 tiles at ~1.94 GHz). BF16 is not stated for this configuration: derived as FP8 x 8,192 / 32,768 (MAC
    # ratio) = 1,268. The measured efficiencies are kept (ASSUMPTION: the 36-tile measurements transfer).
    "maia200-headline": ChipSpec(
        name="maia200-headline",
        flops={"fp4": 10145 * T, "fp8": 5072 * T, "fp6": 5072 * T, "bf16": 5072 * T / 4, "fp32": 40 * 1.54 * T},
        hbm_bytes=216 * GB,
        hbm_bandwidth=7.0 * T,
        sram_bytes=272 * MB,
        sram_bandwidth=28.0 * T,  # ASSUMPTION: as maia200
        tdp=750.0,
        ports=28,
        port_bandwidth=50 * GB,
        compute_efficiency=0.96,
        memory_efficiency=0.56,
        cores=40,
        clusters=4,
        core_sram_bytes=3 * 2.0**20,
        cluster_sram_bytes=35 * MB,
        source="Microsoft Maia 200, Hot Chips 38 / arXiv 2608.24664 headline peaks (secondary notes); bf16 derived",
        capex=20_000.0,  # $ system capex per accelerator, see price_source
        host_power=600.0,  # ASSUMPTION: no Maia server power is public; 0.8 x TDP [epoch-server]
        price_source=_MAIA200_PRICE,
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
        capex=10_000.0,  # $ system capex per accelerator, see price_source
        host_power=560.0,  # ASSUMPTION: 0.8 x TDP [epoch-server]
        price_source="ASSUMPTION: system capex per accelerator; no public cost; ~$6,000 per chip at cost (HBM2E "
                     "generation, half the Maia 200 assumption) x 1.64 server share [epoch-server] = ~$10,000",
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
        capex=49_200.0,  # $ system capex per accelerator, see price_source
        host_power=575.0,  # DGX H100 10.2 kW max input / 8 = 1,275 W - 700 W TDP (NVIDIA DGX H100/H200 user guide)
        price_source="system capex per accelerator: street price ~$30,000 per GPU (chip only: "
                     "www.aiinframap.com/tools/chips/h100-vs-h200-vs-b200-tco, mid-2026, trade press / analyst "
                     "notes, +-20-40%) x 1.64 server share [epoch-server] = $49,200",
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
        capex=57_400.0,  # $ system capex per accelerator, see price_source
        host_power=575.0,  # DGX H200 10.2 kW max / 8 GPUs = 1,275 W - 700 W TDP (same user guide)
        price_source="system capex per accelerator: street price ~$35,000 per GPU (chip only: "
                     "www.aiinframap.com/tools/chips/h100-vs-h200-vs-b200-tco, mid-2026, trade press / analyst "
                     "notes, +-20-40%) x 1.64 server share [epoch-server] = $57,400",
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
        capex=65_600.0,  # $ system capex per accelerator, see price_source
        host_power=787.5,  # DGX B200 ~14.3 kW max / 8 = 1,787.5 W - 1,000 W TDP (NVIDIA DGX B200 datasheet)
        price_source="system capex per accelerator: street price ~$40,000 per GPU (chip only: "
                     "www.aiinframap.com/tools/chips/h100-vs-h200-vs-b200-tco, mid-2026, trade press / analyst "
                     "notes, +-20-40%) x 1.64 server share [epoch-server] = $65,600",
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
        capex=43_000.0,  # $ system capex per accelerator, see price_source
        # GB200 NVL72 ~120 kW per rack (press; 120-132 kW by configuration) / 72 = 1,667 W per GPU - 1,200 W TDP:
        # half a Grace CPU, the NVSwitch trays and the rest of the rack
        host_power=467.0,
        price_source="system capex per accelerator: GB200 NVL72 rack ~$3.1M (fetchlogic.net, citing SemiAnalysis) / "
                     "72 GPUs = ~$43,000 per GPU incl. its share of Grace, NVLink switch trays and rack (press "
                     "reports range $2-3.9M per rack: $28,000-54,000; a volume rack price, below b200's derived "
                     "figure)",
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
        capex=24_600.0,  # $ system capex per accelerator, see price_source
        host_power=600.0,  # ASSUMPTION: no MI300X platform power figure used; 0.8 x TDP [epoch-server]
        price_source="ASSUMPTION: system capex per accelerator; no list price; ~$15,000 per GPU (chip only), the "
                     "order reported for large buyers (siliconanalysts.com: est. sell price $15.0K) x 1.64 server "
                     "share of an 8-GPU OAM platform [epoch-server] = $24,600; $/Mtok scales with the capex share",
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
        # public cloud price, on-demand, per chip-hour (cloud.google.com/tpu/pricing, us-east5, 2024; not
        # re-checked since): kept for reference (--price 4.2); the default basis is capex as for every preset, so
        # that chips compare on one basis (a cloud price carries the provider's margin)
        price_per_hour=4.20,
        capex=15_000.0,
        price_source="ASSUMPTION: system capex per accelerator; Google sells no TPU; ~$9,000 per chip at cost "
                     "(v5p class, as Trainium2) x 1.64 server share [epoch-server] = ~$15,000; power not public "
                     "(0 W); public reference: Google Cloud TPU pricing, v5p on-demand $4.20 per chip-hour (2024)",
    ),
    "ironwood": ChipSpec(
        name="ironwood",
        flops={"fp8": 4614 * T, "bf16": 2307 * T},  # [ironwood] TPU7x docs: 4,614 FP8, 2,307 BF16 dense
        # [ironwood] 192 GB: the pod's 1.77 PB of HBM over 9,216 chips (Hot Chips 2025, as reported by TechRadar)
        # is 192e9 B per chip; the TPU7x docs table labels the same 192 "GiB" (taken as loose units)
        hbm_bytes=192 * GB,
        hbm_bandwidth=7.37 * T,  # [ironwood] 7.37 TB/s (Google blog, Cloud Next 2025)
        # ASSUMPTION: per-chip power is not public; HPCwire says "roughly 1 kW per chip" (10 MW / 9,216 chips is
        # ~1.1 kW including overheads, Hot Chips 2025 coverage)
        tdp=1000.0,
        # system power: the 9,216-chip pod's ~10 MW (Hot Chips 2025 coverage) / 9,216 = ~1,085 W per chip incl.
        # hosts, OCS and overheads -> 85 W over the assumed 1 kW chip
        host_power=85.0,
        capex=20_000.0,
        price_source="ASSUMPTION: system capex per accelerator; Google sells no TPU and had published no TPU7x "
                     "chip-hour price here; ~$12,000 per chip at cost (B200 class, as maia200) x 1.64 share of "
                     "host, cube and OCS [epoch-server] = ~$20,000; $/Mtok scales with it",
        # [ironwood] 1.2 TB/s bidirectional ICI; ASSUMPTION: 6 torus links like v5p -> 100 GB/s per direction
        ports=6,
        port_bandwidth=100 * GB,
        source="Google Cloud TPU7x docs and Cloud Next 2025 Ironwood figures; ICI link split and TDP assumed",
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
        capex=15_000.0,  # $ system capex per accelerator, see price_source
        price_source="ASSUMPTION: system capex per accelerator; AWS sells no Trainium2 and publishes no cost; "
                     "~$9,000 per chip at cost (between the MI300X and Trainium3 assumptions) x 1.64 share of "
                     "server and NeuronLink [epoch-server] = ~$15,000; power not public (0 W)",
    ),
    # ---- the systems the mission names beside Maia 200 (issue 12; figures: ../shared/reference/seed_systems.md)
    "trainium3": ChipSpec(
        name="trainium3",
        # [trn3] aws-neuron-sdk trainium3.rst / neuron-core-v4.rst (Dec 2025): MXFP8 = MXFP4 = 2,517 TFLOP/s dense
        # (MXFP4 is converted to MXFP8 before the tensor engine), BF16/FP16/TF32 671, FP32 183
        flops={"fp4": 2517 * T, "fp8": 2517 * T, "bf16": 671 * T, "fp16": 671 * T, "fp32": 183 * T},
        hbm_bytes=144 * GIB,  # [trn3] 144 GiB HBM3e, 4 stacks
        hbm_bandwidth=4.9 * T,  # [trn3] 4.9 TB/s (the NKI guide says 4.7 TB/s: a -4% sensitivity)
        sram_bytes=256 * 2.0**20,  # [trn3] SBUF 32 MiB per NeuronCore-v4 x 8
        # ASSUMPTION: SBUF bandwidth is not public; 4x HBM as for the other presets' on-die SRAM
        sram_bandwidth=19.6 * T,
        # ASSUMPTION: power not published; ~1 kW (an AWS VP's liquid-cooling remark, DatacenterDynamics 2024)
        tdp=1000.0,
        # [trn3] 4 NeuronLink-v4 interfaces per chip, 2.56 TB/s per device (INFERRED bidirectional from 160
        # PCIe Gen6 lanes) -> 1.28 TB/s per direction, 320 GB/s per direction per interface
        ports=4,
        port_bandwidth=320 * GB,
        source="AWS Neuron docs (trainium3.rst, trn3-arch.rst, neuron-core-v4.rst); SRAM bw, power assumed",
        capex=20_000.0,
        host_power=800.0,  # ASSUMPTION: no Trn3 server power is public; 0.8 x TDP [epoch-server]
        price_source="ASSUMPTION: system capex per accelerator; AWS sells no Trainium3 and publishes no cost; "
                     "~$12,000 per chip at cost (B200 class, as maia200: an in-house ASIC without a GPU-vendor "
                     "margin) x 1.64 share of server and NeuronSwitch [epoch-server] = ~$20,000; $/Mtok scales "
                     "with it (docs/inference.md shows the range)",
    ),
    "cs3": ChipSpec(
        name="cs3",
        # [cs3] one WSE-3 wafer per CS-3 system (Cerebras launch 2024-03, TweakTown/NextBigFuture; Argonne SC24).
        # "125 PFLOPS peak AI" is "highly sparse FP16" (The Register). ASSUMPTION: dense FP16/BF16 = 125/8 =
        # 15.6 PFLOP/s (a 900,000-core wafer with 8 FP16 FMAs per core per cycle at ~1.1 GHz gives 15.8;
        # neither figure is public). Decode at small batch is not compute-bound, so TPOT barely moves with it.
        flops={"bf16": 15.6 * P, "fp16": 15.6 * P},
        hbm_bytes=0.0,  # no HBM: the weights live in on-wafer SRAM (inference mode)
        hbm_bandwidth=0.0,
        sram_bytes=44 * GB,  # [cs3] 44 GB on-wafer SRAM (48 KB per core)
        sram_bandwidth=21 * P,  # [cs3] 21 PB/s (one blog says 27 PB/s, not used)
        tdp=23_000.0,  # ASSUMPTION: ~23 kW per CS-3 (aggregator figure only; CS-1 was ~20 kW)
        # [cs3] system I/O 1.2 Tb/s = 12 x 100 GbE (unchanged since CS-1)
        ports=12,
        port_bandwidth=12.5 * GB,
        source="Cerebras WSE-3 launch figures (44 GB SRAM, 21 PB/s, 12x100GbE); dense FLOP/s and power assumed",
        capex=2_500_000.0,
        price_source="ASSUMPTION: system capex per accelerator; no list price; press reports put a CS-2/CS-3 "
                     "system at $2-3 million each; $2.5M per system (one wafer, its power in tdp); the external "
                     "MemoryX / SwarmX / worker servers are not counted; $/Mtok scales with it",
    ),
    "groq-lpu": ChipSpec(
        name="groq-lpu",
        # [groq] GroqChip v1 / TSP (ISCA 2020/2022; ALCF GroqRack docs quoting Groq briefs): 750 TOPS INT8,
        # 188 TFLOP/s FP16 at 900 MHz (FP8 weights run at the INT8 rate: ChipSpec.peak_flops falls back)
        flops={"int8": 750 * T, "fp16": 188 * T, "bf16": 188 * T},
        hbm_bytes=0.0,  # no HBM, no DRAM: SRAM only
        hbm_bandwidth=0.0,
        sram_bytes=230 * MB,  # [groq] 220 MiB (ISCA) = 230 MB (product briefs)
        sram_bandwidth=80 * T,  # [groq] 80 TB/s on-die SRAM bandwidth (TechPowerUp, 2024-02)
        # ASSUMPTION: chip power not in a primary source; 300 W (a blog's estimate; Chinese notes say ~40 W
        # typical: the cost model's power share moves by < $0.03 per chip-hour between the two)
        tdp=300.0,
        # [groq] 16 C2C links per chip, 4 lanes x 30 Gb/s, ~14 GB/s per link per direction (Linley 2020)
        ports=16,
        port_bandwidth=14 * GB,
        source="Groq ISCA 2022, ALCF GroqRack docs, Linley/Next Platform 2020; power assumed",
        capex=32_800.0,
        host_power=240.0,  # ASSUMPTION: 0.8 x TDP [epoch-server] (a GroqNode: 8 cards, 2 CPUs)
        price_source="ASSUMPTION: system capex per accelerator; the GroqCard (chip only) was listed at ~$20,000 "
                     "by a distributor (Mouser, 2023, quantity 1, as widely reported) x 1.64 server share "
                     "[epoch-server] = $32,800; a volume price is likely far lower (isopack.blogspot.com 2024-02 "
                     "estimates < $500 to build a card): $/Mtok scales with it",
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


# ---------------------------------------------------------------------- communication software (comm:)
#: Calibrated communication stacks (``comm:`` of a fabric file; see docs/collectives.md). Each value names
#: its source: ``fit:`` values come from ``scaleup calibrate`` on the named measured tables (read at run
#: time from aiconfigurator-core, never copied here); ``ASSUMPTION:`` values are stated with a reason.
#: Held-out systems take a fitted stack by this rule, never a fit of their own: same NVLink / NVSwitch
#: generation and NCCL version -> same stack (dgx-h200 -> nccl-h100, gb200-nvl72 -> nccl-b200).
COMM: dict[str, CommSpec] = {
    "nccl-h100": CommSpec(
        name="nccl-h100",
        link_efficiency=1.0,  # fitted protocol bandwidths carry NCCL's overhead (the YAML's 0.8 is the physics stand-in)
        call=5.022e-06,
        buffer_bandwidth=5.437e+11,
        base={"ll128": 1.142e-05, "simple": 6.248e-06},
        step={"ll": 5.219e-07, "ll128": 7.022e-07, "simple": 5.967e-06},
        bandwidth={"ll": 0.3772, "ll128": 0.8694, "simple": 1.0},
        algorithms={"all_gather": {"ring": 0.8536}, "all_reduce": {"inr": 1.0, "ring": 0.9142}, "all_to_all": {"direct": 0.6645}, "reduce_scatter": {"ring": 0.9138}},
        # NCCL's grouped send/recv (all-to-all): base_ll/base_simple/peer/channel_bandwidth/fill and all_to_all.direct
        # fitted on the all-to-all rows alone, the shared costs above held fixed; channels and chunk from NCCL's source
        p2p={"base_ll": 1.165e-06, "base_simple": 4.304e-06, "peer": 4.524e-07, "channel_bandwidth": 3.298e+10, "fill": 0.8429, "channels": 32, "chunk": 524288},
        provenance={"*": "fit: aiconfigurator-core 0.12.0 nccl 2.29.2 h100_sxm, ranks 2-8, all sizes, half; all_reduce/all_gather/reduce_scatter (all_to_all: its p2p block and efficiency, shared costs fixed)",
                    "p2p.channels": "source: NCCL v2.29.2-1 src/init.cc (NCCL_P2P_NVL_CHUNKSIZE 512 KiB), src/graph/paths.cc (ncclTopoComputeP2pChannels), src/graph/connect.cc (channel duplication), src/enqueue.cc (scheduleP2pTasksToPlan, addP2pToPlan)",
                    "p2p.chunk": "source: NCCL v2.29.2-1 src/init.cc (NCCL_P2P_NVL_CHUNKSIZE 512 KiB), src/graph/paths.cc (ncclTopoComputeP2pChannels), src/graph/connect.cc (channel duplication), src/enqueue.cc (scheduleP2pTasksToPlan, addP2pToPlan)",
                    "bandwidth.simple": "reference 1 (the algorithm efficiencies carry the Simple share)",
                    "algorithms": "NCCL on one NVLink domain: ring, NVLS (inr), p2p all-to-all; source: NCCL src/graph/tuning.cc"},
    ),
    "nccl-b200": CommSpec(
        name="nccl-b200",
        link_efficiency=1.0,  # fitted protocol bandwidths carry NCCL's overhead (the YAML's 0.8 is the physics stand-in)
        call=8.159e-06,
        buffer_bandwidth=8.876e+11,
        base={"ll128": 1.249e-05, "simple": 3.232e-06},
        step={"ll": 9.59e-07, "ll128": 3.063e-06, "simple": 6.733e-06},
        bandwidth={"ll": 0.3072, "ll128": 0.4996, "simple": 1.0},
        algorithms={"all_gather": {"ring": 0.8662}, "all_reduce": {"inr": 0.9432, "ring": 0.924}, "all_to_all": {"direct": 0.6019}, "reduce_scatter": {"ring": 0.8785}},
        # NCCL's grouped send/recv (all-to-all): base_ll/base_simple/peer/channel_bandwidth/fill and all_to_all.direct
        # fitted on the all-to-all rows alone, the shared costs above held fixed; channels and chunk from NCCL's source
        p2p={"base_ll": 1.289e-07, "base_simple": 4.144e-06, "peer": 4.463e-07, "channel_bandwidth": 2.114e+10, "fill": 0.3894, "channels": 32, "chunk": 524288},
        provenance={"*": "fit: aiconfigurator-core 0.12.0 nccl 2.29.2 b200_sxm, ranks 2-8, all sizes, half; all_reduce/all_gather/reduce_scatter (all_to_all: its p2p block and efficiency, shared costs fixed)",
                    "p2p.channels": "source: NCCL v2.29.2-1 src/init.cc (NCCL_P2P_NVL_CHUNKSIZE 512 KiB), src/graph/paths.cc (ncclTopoComputeP2pChannels), src/graph/connect.cc (channel duplication), src/enqueue.cc (scheduleP2pTasksToPlan, addP2pToPlan)",
                    "p2p.chunk": "source: NCCL v2.29.2-1 src/init.cc (NCCL_P2P_NVL_CHUNKSIZE 512 KiB), src/graph/paths.cc (ncclTopoComputeP2pChannels), src/graph/connect.cc (channel duplication), src/enqueue.cc (scheduleP2pTasksToPlan, addP2pToPlan)",
                    "bandwidth.simple": "reference 1 (the algorithm efficiencies carry the Simple share)",
                    "algorithms": "NCCL on one NVLink domain: ring, NVLS (inr), p2p all-to-all; source: NCCL src/graph/tuning.cc"},
    ),
}
def _custom_all_reduce(nccl: str, name: str, custom: dict, where: dict, system: str) -> CommSpec:
    """A TensorRT-LLM stack: the NCCL preset ``nccl`` (its fitted costs held fixed: what AUTO runs above its
    custom kernels) plus the custom all-reduce algorithms (one-shot; two-shot = ``direct``) with their own
    fitted costs (``where``: per algorithm, the measured points AUTO runs it on)."""
    base = COMM[nccl]
    algorithms = {c: dict(a) for c, a in base.algorithms}
    algorithms["all_reduce"].update({name_: 1.0 for name_ in custom})
    provenance = dict(base.provenance)
    provenance.pop("bandwidth.simple", None)
    provenance["algorithms"] = ("source: TensorRT-LLM custom all-reduce (oneshot = ONESHOT, direct = TWOSHOT) beside "
                                "NCCL; which runs which size: collectives.stacks (AUTO's AllReduceBestStrategyTable)")
    for a in custom:
        provenance[f"custom.{a}"] = (f"fit: aiconfigurator-core 0.12.0 trtllm 1.3.0rc20 custom_allreduce {system} "
                                     f"(bf16), the points AUTO runs on it: {where[a]}; NCCL part held fixed")
    return base.replace(name=name, algorithms=algorithms, custom=custom, provenance=provenance)


# Values from collectives.stacks.calibrate_stack("trtllm", system): each kernel fitted on the points
# TensorRT-LLM's AUTO runs it on (collectives.stacks._TRT_TABLE); the points AUTO sends to NCCL are not fitted.
COMM["trtllm-h100"] = _custom_all_reduce(
    "nccl-h100", "trtllm-h100",
    {"oneshot": {"call": 2.107e-06, "peer": 7.73e-08, "step": 2.815e-07, "efficiency": 0.6272},
     "direct": {"call": 4.682e-06, "peer": 1.891e-06, "step": 1.189e-06, "efficiency": 0.5424}},
    {"oneshot": "ranks 2: 256 B - 16 MiB, ranks 4: 256 B - 1 MiB, ranks 8: 256 B - 512 KiB",
     "direct": "ranks 4: 2 MiB - 8 MiB, ranks 8: 2 MiB - 4 MiB"}, "h100_sxm")
COMM["trtllm-b200"] = _custom_all_reduce(
    "nccl-b200", "trtllm-b200",
    {"oneshot": {"call": 3.099e-06, "peer": 8.761e-08, "step": 1.339e-06, "efficiency": 0.6647},
     "direct": {"call": 1.037e-05, "peer": 8.66e-07, "step": 3.686e-06, "efficiency": 0.5363}},
    {"oneshot": "ranks 2: 256 B - 16 MiB, ranks 4: 256 B - 4 MiB, ranks 8: 256 B - 2 MiB",
     "direct": "ranks 4: 8 MiB - 16 MiB, ranks 8: 4 MiB - 32 MiB"}, "b200_sxm")


# vLLM 0.24.0 and SGLang 0.5.14 TP all-reduce (collectives.stacks: which implementation runs which size).
# Values from collectives.stacks.calibrate_stack(stack, system) on the aiconfigurator-core 0.12.0 tables
# <system>/comm/{vllm/0.24.0, sglang/0.5.14}/custom_allreduce_perf.parquet (CUDA-graph rows, bf16), each
# implementation fitted on the points its stack runs on it (provenance per algorithm below); H100 and B200
# only (H200 and GB200 are held out and use these by the H100 -> H200, B200 -> GB200 rule).
_FIT_SRC = "fit: aiconfigurator-core 0.12.0 {stack} custom_allreduce {system} ({stack_}_graph, bf16), the points {name} runs on it: {where}; NCCL part held fixed"


def _stack_all_reduce(nccl: str, name: str, what: str, custom: dict, where: dict, stack: str, system: str) -> CommSpec:
    """A serving stack's all-reduce implementation: the NCCL preset ``nccl`` (held fixed, for what runs
    above it) plus the implementation's algorithms with their own fitted costs (``where``: per algorithm,
    the measured points it was fitted on)."""
    base = COMM[nccl]
    algorithms = {c: dict(a) for c, a in base.algorithms}
    algorithms["all_reduce"].update({a: 1.0 for a in custom})
    provenance = dict(base.provenance)
    provenance.pop("bandwidth.simple", None)
    provenance["algorithms"] = "source: " + what
    for a in custom:
        provenance[f"custom.{a}"] = _FIT_SRC.format(stack=stack, stack_=stack.split()[0], system=system,
                                                    name=stack.split()[0], where=where[a])
    return base.replace(name=name, algorithms=algorithms, custom=custom, provenance=provenance)


COMM["vllm-h100"] = _stack_all_reduce(
    "nccl-h100", "vllm-h100", "vLLM custom all-reduce: oneshot = 1-stage, direct = 2-stage (csrc/custom_all_reduce.cuh)",
    {"oneshot": {"call": 2.73e-06, "peer": 7.8e-08, "step": 1.22e-06, "efficiency": 0.5993},
     "direct": {"call": 3.655e-06, "peer": 3.395e-07, "step": 1.505e-06, "efficiency": 0.6603}},
    {"oneshot": "ranks 2: 256 B - 4 MiB, ranks 4: 256 B - 256 KiB, ranks 8: 256 B - 128 KiB",
     "direct": "ranks 4: 512 KiB - 4 MiB"}, "vllm 0.24.0", "h100_sxm")
COMM["vllm-h100-symm"] = _stack_all_reduce(
    "nccl-h100", "vllm-h100-symm", "vLLM symm-mem all-reduce (torch symmetric memory): inr = multimem_all_reduce_, "
    "direct = two_shot_all_reduce_ (vllm symm_mem.py)",
    {"inr": {"call": 0.0, "peer": 0.0, "step": 9.184e-07, "efficiency": 0.7683},
     "direct": {"call": 3.011e-06, "peer": 5.788e-07, "step": 1.852e-06, "efficiency": 0.5041}},
    {"inr": "ranks 4: 8 MiB - 16 MiB, ranks 8: 256 KiB - 32 MiB", "direct": "ranks 2: 8 MiB - 32 MiB"},
    "vllm 0.24.0", "h100_sxm")
COMM["vllm-b200"] = _stack_all_reduce(
    "nccl-b200", "vllm-b200", "vLLM custom all-reduce: oneshot = 1-stage, direct = 2-stage (csrc/custom_all_reduce.cuh)",
    {"oneshot": {"call": 4.047e-06, "peer": 9.623e-08, "step": 2.435e-06, "efficiency": 0.3582},
     "direct": {"call": 4.325e-06, "peer": 2.074e-06, "step": 2.886e-06, "efficiency": 1.0}},
    {"oneshot": "ranks 2: 256 B - 1 MiB, ranks 4: 256 B - 256 KiB, ranks 8: 256 B - 128 KiB",
     "direct": "ranks 4: 512 KiB - 1 MiB, ranks 8: 256 KiB - 512 KiB (4 points: the least determined values)"},
    "vllm 0.24.0", "b200_sxm")
COMM["vllm-b200-symm"] = _stack_all_reduce(
    "nccl-b200", "vllm-b200-symm", "vLLM symm-mem all-reduce (torch symmetric memory): inr = multimem_all_reduce_, "
    "direct = two_shot_all_reduce_ (vllm symm_mem.py)",
    {"inr": {"call": 9.301e-07, "peer": 1.878e-07, "step": 1.206e-06, "efficiency": 0.8345},
     "direct": {"call": 7.223e-06, "peer": 0.0, "step": 6.383e-06, "efficiency": 0.6057}},
    {"inr": "ranks 8: 1 MiB - 64 MiB", "direct": "ranks 2: 2 MiB - 4 MiB, ranks 4: 2 MiB - 16 MiB"},
    "vllm 0.24.0", "b200_sxm")
COMM["sglang-h100"] = _stack_all_reduce(
    "nccl-h100", "sglang-h100", "SGLang custom all-reduce v2: oneshot = one-shot push/pull, direct = two-shot pull "
    "(the faster runs)",
    {"oneshot": {"call": 2.015e-06, "peer": 1.525e-07, "step": 5.039e-08, "efficiency": 0.677},
     "direct": {"call": 8.739e-09, "peer": 5.882e-07, "step": 1.503e-06, "efficiency": 0.6643}},
    {a: "ranks 2, 4, 8: 256 B - 16 MiB (each point the faster of the two)" for a in ("oneshot", "direct")},
    "sglang 0.5.14", "h100_sxm")
COMM["sglang-b200"] = _stack_all_reduce(
    "nccl-b200", "sglang-b200", "SGLang custom all-reduce v2: oneshot = one-shot push/pull, direct = two-shot pull "
    "(the faster runs)",
    {"oneshot": {"call": 2.551e-06, "peer": 1.449e-07, "step": 1.183e-06, "efficiency": 0.5567},
     "direct": {"call": 1.465e-06, "peer": 4.657e-07, "step": 3.674e-06, "efficiency": 0.7071}},
    {a: "ranks 2, 4, 8: 256 B - 16 MiB (each point the faster of the two)" for a in ("oneshot", "direct")},
    "sglang 0.5.14", "b200_sxm")


#: ASSUMPTION: platforms without public nccl-tests-like tables (Maia 200/100, TPU, Trainium, MI300X, tori,
#: Clos, dragonfly, hand-built fabrics) get the NCCL 2.29 costs fitted on H100 (the closest measured
#: stack: the same software structure of launch, per-step protocol latency and copy engines) on their own
#: link efficiency (framing overhead kept). Sensitivity: examples/comm-sensitivity.yaml sweeps call and
#: step latency on maia200 (docs/collectives.md).
COMM["assumed"] = COMM["nccl-h100"].replace(
    name="assumed", link_efficiency=None,
    # every registered algorithm may run ("*"): the fitted ring efficiency stands for the others
    algorithms={c: {"*": e.get("ring", min(e.values())), **({"inr": e["inr"]} if "inr" in e else {})}
                for c, e in ((c, dict(a)) for c, a in COMM["nccl-h100"].algorithms)},
    provenance={"*": "ASSUMPTION: no public measured tables for this platform; NCCL 2.29 costs fitted on 8x H100 "
                     "(aiconfigurator-core 0.12.0 h100_sxm) on the fabric's own link efficiency; see "
                     "examples/comm-sensitivity.yaml for the sensitivity"})


def comm_preset(name: str) -> CommSpec:
    """The :class:`CommSpec` preset called ``name`` (see :data:`COMM`).

    Raises:
        SpecError: if the name is unknown, listing the known ones.
    """
    try:
        return COMM[str(name).lower()]
    except KeyError:
        raise SpecError(f"comm: unknown preset {name!r}; known: {', '.join(sorted(COMM))}") from None
