"""``scaleup measure``: kernel, memory and collective timings on the hardware at hand, and their table.

* :func:`measure` (:mod:`.collect`) times a model's GEMMs, attention, MoE, elementwise kernels, launch floor,
  HBM bandwidth and (with >= 2 GPUs) collectives, and writes a ``scaleup-kernels`` table;
* :func:`read_table` / :func:`load_table` (:mod:`.table`) read it back as a :class:`KernelTable`, which the
  measured-kernel backend of :class:`inference.Deployment` uses (``kernels=FILE``, ``scaleup infer --kernels``);
* :func:`compare` (:mod:`.compare`) sets each measured kernel beside the analytic model's time.

Backends: PyTorch (the ``measure`` extra, ``pip install 'scaleup-sim[measure]'``) on CUDA / ROCm or the CPU,
and NumPy on the host (a dry run for CI).
"""

from .backends import NumpyBackend, TorchBackend, make_backend
from .collect import MeasureResult, format_collectives, measure
from .compare import compare, compare_table
from .shapes import SECTIONS, TINY, Grid, gemm_shapes, points
from .table import COLUMNS, FORMAT, FORMAT_VERSION, KernelTable, load_table, read_table

__all__ = [
    "COLUMNS",
    "FORMAT",
    "FORMAT_VERSION",
    "SECTIONS",
    "TINY",
    "Grid",
    "KernelTable",
    "MeasureResult",
    "NumpyBackend",
    "TorchBackend",
    "compare",
    "compare_table",
    "format_collectives",
    "gemm_shapes",
    "load_table",
    "make_backend",
    "measure",
    "points",
    "read_table",
]
