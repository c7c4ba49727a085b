"""Feature vectors for (config, workload) pairs, generic over kernels whose spaces differ.

Three groups of columns, named in `FeatureEncoder.feature_names_`:

* knobs: the config flattened by position (``block_sizes[0]``, ``loop_orders[0][1]``); a knob whose
  values are all positive powers of two is log2'd, other numbers and booleans are kept, strings
  (and numbers mixed with strings) are one-hot over the values seen in `fit` (at most
  `max_onehot`); a knob that is sometimes ``None`` gets a ``=None`` indicator. Missing -> -1.
* workload: sizes (log2 of the first three problem dims, of total elements and bytes), dtype
  bytes, number of inputs, the kernel family (one-hot over `FAMILIES`, guessed from the name) and
  the compiler's counts (``kernel_info``: loads, stores, dots, reductions, bytes) when a record
  has them (today's records do not; the columns are then -1).
* derived: elements per program (product of block sizes), programs (ceil-div of the problem dims
  by the blocks, a heuristic: matmul-like inputs map blocks to batch, M, N; others to the first
  input's dims), programs per SM and waves (132 SMs), programs launched by persistent pid types,
  bytes per program, arithmetic intensity (problem and tile), elements per thread, warps, stages.

Optional: compile resources (registers, spills, shared bytes) with ``use_resources=True`` (known
only after compiling, so the prior leaves them out), and a `search.Space` encoding of the config
with ``use_space=True`` when the record carries its space JSON (``_space``, set by the loader).
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from cost_models.datasets import Dataset

#: Streaming multiprocessors of an H100 / H200 (SXM).
NUM_SMS = 132
#: Shared memory per block on sm_90, bytes.
SHARED_LIMIT = 232448
#: Value of a feature that does not apply or is unknown.
MISSING = -1.0
#: Kernel families, guessed from the kernel name (`family_of`).
FAMILIES = ("matmul", "attention", "softmax", "norm", "scan", "reduction", "elementwise", "other")
_FAMILY_WORDS = (
    ("attention", ("attention", "attn")),
    ("matmul", ("matmul", "bmm", "gemm", "mm", "dot", "linear")),
    ("softmax", ("softmax",)),
    ("norm", ("norm",)),
    ("scan", ("scan", "cumsum", "cumprod")),
    ("reduction", ("sum", "mean", "max", "min", "reduce", "stats", "var", "argmax", "argmin")),
    ("elementwise", ("add", "gelu", "relu", "mul", "exp", "silu", "sigmoid", "copy", "cast", "tanh")),
)
KERNEL_INFO_FIELDS = ("loads", "stores", "dots", "reductions", "bytes")
DTYPE_BYTES = {"float64": 8, "float32": 4, "tfloat32": 4, "float16": 2, "bfloat16": 2, "int64": 8, "int32": 4,
               "int16": 2, "int8": 1, "uint8": 1, "bool": 1, "float8_e4m3fn": 1, "float8_e5m2": 1}
WORKLOAD_NAMES = (["size0", "size1", "size2", "log_elements", "log_bytes", "dtype_bytes", "n_inputs", "matmul_like"]
                  + [f"family={f}" for f in FAMILIES] + ["has_kernel_info"]
                  + [f"kernel_info.{k}" for k in KERNEL_INFO_FIELDS])
DERIVED_NAMES = ("log_elements_per_program", "log_programs", "programs_per_sm", "log_waves", "log_launched",
                 "log_bytes_per_program", "log_intensity", "log_tile_intensity", "log_elements_per_thread",
                 "log_warps", "stages", "n_blocks")
RESOURCE_NAMES = ("log_registers", "log_spills", "log_shared", "shared_fraction")


def family_of(kernel: str | None) -> str:
    """The kernel's family from words in its name (``other`` if none matches)."""
    name = (kernel or "").lower()
    for family, words in _FAMILY_WORDS:
        if any(w in name for w in words):
            return family
    return "other"


def flatten_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Scalar knobs of a config: lists (and lists of lists) flattened by position."""
    out: dict[str, Any] = {}

    def walk(name: str, value: Any) -> None:
        if isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                walk(f"{name}[{i}]", item)
        elif isinstance(value, Mapping):
            for k, item in value.items():
                walk(f"{name}.{k}", item)
        else:
            out[name] = value

    for name, value in config.items():
        walk(str(name), value)
    return out


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_pow2(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0 and (v & (v - 1)) == 0


def _log2p(x: float | None) -> float:
    return MISSING if x is None or not math.isfinite(x) or x < 0 else math.log2(1.0 + x)


def block_sizes(config: Mapping[str, Any]) -> list[int]:
    """The config's block sizes: ``block_sizes`` or the ``block_m/n/k`` (then other ``block_*``) knobs."""
    blocks = config.get("block_sizes")
    if isinstance(blocks, (list, tuple)):
        return [int(b) for b in blocks if _is_number(b)]
    named = [k for k in ("block_m", "block_n", "block_k") if k in config]
    named += sorted(k for k in config if k.startswith("block_") and k not in named)
    return [int(config[k]) for k in named if _is_number(config[k])]


def problem(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Sizes of a workload from its ``key``: shapes (or ``size``), dtype bytes, matmul-like dims."""
    key = fields.get("key") or {}
    shapes = [list(s) for s in key.get("shapes") or [] if isinstance(s, (list, tuple))]
    shapes = [[int(d) for d in s if _is_number(d)] for s in shapes]
    if not shapes and isinstance(key.get("size"), (list, tuple)):
        shapes = [[int(d) for d in key["size"] if _is_number(d)]]
    dtypes = [str(d).replace("torch.", "") for d in key.get("dtypes") or []]
    dtype_bytes = DTYPE_BYTES.get(dtypes[0], 2) if dtypes else 2
    elements = sum(math.prod(s) for s in shapes if s) if shapes else 0
    a, b = (shapes + [[], []])[:2]
    matmul_like = len(a) >= 2 and len(b) >= 2 and a[-1] == b[-2] and family_of(fields.get("kernel")) in ("matmul", "attention")
    if matmul_like:
        dims = a[:-2] + [a[-2], b[-1]]
        flops = 2.0 * math.prod(dims) * a[-1]
    else:
        dims = a
        flops = float(math.prod(a)) if a else 0.0
    return {"shapes": shapes, "dims": dims, "dtype_bytes": dtype_bytes, "elements": elements,
            "bytes": elements * dtype_bytes, "flops": flops, "matmul_like": matmul_like}


def workload_vector(fields: Mapping[str, Any], prob: Mapping[str, Any] | None = None) -> list[float]:
    """The `WORKLOAD_NAMES` columns of a workload."""
    prob = prob or problem(fields)
    dims = list(prob["dims"]) + [0, 0, 0]
    family = family_of(fields.get("kernel"))
    info = fields.get("kernel_info") if isinstance(fields.get("kernel_info"), Mapping) else None
    row = [math.log2(d) if d > 0 else MISSING for d in dims[:3]]
    row += [_log2p(prob["elements"]), _log2p(prob["bytes"]), float(prob["dtype_bytes"]), float(len(prob["shapes"])),
            float(prob["matmul_like"])]
    row += [float(family == f) for f in FAMILIES]
    row.append(float(info is not None))
    row += [_log2p(float(info[k])) if info and _is_number(info.get(k)) else MISSING for k in KERNEL_INFO_FIELDS]
    return row


def derived_vector(config: Mapping[str, Any], prob: Mapping[str, Any]) -> list[float]:
    """The `DERIVED_NAMES` columns of a config on a workload."""
    blocks = block_sizes(config)
    dims = prob["dims"]
    per_program = float(math.prod(blocks)) if blocks else math.nan
    loops = config.get("reduction_loops")
    if blocks and isinstance(loops, (list, tuple)) and not prob["matmul_like"]:
        # dims past the blocks are reduced: a whole row per program, or a loop of the given size
        for dim, loop in zip(dims[len(blocks):], loops):
            per_program *= float(loop) if _is_number(loop) and loop > 0 else float(dim)
    programs = math.nan
    if blocks and dims:
        programs = float(math.prod(math.ceil(d / max(1, b)) for d, b in zip(dims, blocks)))
    launched = programs
    pid = str(config.get("pid_type", ""))
    if pid.startswith("persistent") and math.isfinite(programs):
        multiplier = config.get("num_sm_multiplier") if _is_number(config.get("num_sm_multiplier")) else 1
        launched = min(programs, NUM_SMS * multiplier)
    warps = config.get("num_warps") if _is_number(config.get("num_warps")) else 4
    stages = config.get("num_stages") if _is_number(config.get("num_stages")) else MISSING
    tile_intensity = math.nan
    if prob["matmul_like"] and len(blocks) >= 3:
        bm, bn, bk = blocks[-3:]
        tile_intensity = 2.0 * bm * bn * bk / ((bm * bk + bk * bn) * prob["dtype_bytes"])
    ok = math.isfinite(programs) and programs > 0
    return [
        _log2p(per_program), _log2p(programs), programs / NUM_SMS if ok else MISSING,
        _log2p(math.ceil(programs / NUM_SMS)) if ok else MISSING, _log2p(launched),
        _log2p(prob["bytes"] / programs) if ok else MISSING,
        _log2p(prob["flops"] / prob["bytes"]) if prob["bytes"] else MISSING, _log2p(tile_intensity),
        _log2p(per_program / (32.0 * warps)), math.log2(warps) if warps > 0 else MISSING, float(stages),
        float(len(blocks)),
    ]


def resource_vector(resources: Mapping[str, Any] | None) -> list[float]:
    """The `RESOURCE_NAMES` columns (missing when the record has no ``resources``)."""
    r = resources if isinstance(resources, Mapping) else {}
    get = lambda k: float(r[k]) if _is_number(r.get(k)) else None  # noqa: E731
    shared = get("shared_bytes")
    return [_log2p(get("registers")), _log2p(get("spills")), _log2p(shared),
            shared / SHARED_LIMIT if shared is not None else MISSING]


class FeatureEncoder:
    """Learns the knob vocabulary of some records (`fit`), then turns configs into rows (`transform`).

    Unknown knobs at transform time are ignored; knobs seen in `fit` but absent are -1 (module
    docstring). The encoder is picklable and holds only plain Python data.
    """

    def __init__(self, *, use_resources: bool = False, use_space: bool = False, max_onehot: int = 16):
        self.use_resources = use_resources
        self.use_space = use_space
        self.max_onehot = max_onehot

    def fit(self, records: Iterable[Mapping[str, Any]]) -> FeatureEncoder:
        """Collect knob names, kinds and one-hot values from the records' configs (and spaces)."""
        seen: dict[str, list[Any]] = {}
        spaces: dict[str, int] = {}
        for record in records:
            config = record.get("config")
            if not isinstance(config, Mapping):
                continue
            for name, value in flatten_config(config).items():
                seen.setdefault(name, []).append(value)
            space = record.get("_space")
            if self.use_space and isinstance(space, Mapping):
                fp, n = _space_width(space)
                if fp:
                    spaces[fp] = n
        self.knobs_: list[tuple[str, str, list[Any], bool]] = []  # (name, kind, values, has_none)
        for name in sorted(seen):
            values = [v for v in seen[name] if v is not None]
            has_none = len(values) < len(seen[name])
            if values and all(_is_number(v) or isinstance(v, bool) for v in values):
                kind = "pow2" if all(_is_pow2(v) for v in values) else "number"
                self.knobs_.append((name, kind, [], has_none))
            else:
                counts: dict[str, int] = {}
                for v in values:
                    counts[str(v)] = counts.get(str(v), 0) + 1
                top = sorted(counts, key=lambda k: (-counts[k], k))[: self.max_onehot]
                self.knobs_.append((name, "onehot", sorted(top), has_none))
        self.spaces_ = dict(sorted(spaces.items()))
        names = []
        for name, kind, values, has_none in self.knobs_:
            names += [f"{name}={v}" for v in values] if kind == "onehot" else [name]
            if has_none:
                names.append(f"{name}=None")
        names += list(WORKLOAD_NAMES) + list(DERIVED_NAMES)
        if self.use_resources:
            names += list(RESOURCE_NAMES)
        for fp, width in self.spaces_.items():
            names += [f"space:{fp}:{i}" for i in range(width)]
        self.feature_names_ = names
        return self

    @property
    def n_features(self) -> int:
        """Width of a row."""
        return len(self.feature_names_)

    def _knob_columns(self, config: Mapping[str, Any]) -> list[float]:
        flat = flatten_config(config)
        row: list[float] = []
        for name, kind, values, has_none in self.knobs_:
            v = flat.get(name, _ABSENT)
            if kind == "onehot":
                row += [float(v is not _ABSENT and v is not None and str(v) == c) for c in values]
            elif v is _ABSENT or v is None or not (_is_number(v) or isinstance(v, bool)):
                row.append(MISSING)
            elif kind == "pow2":
                row.append(math.log2(v) if v > 0 else MISSING)
            else:
                row.append(float(v))
            if has_none:
                row.append(float(v is None))
        return row

    def _space_columns(self, config: Mapping[str, Any], fields: Mapping[str, Any]) -> list[float]:
        row: list[float] = []
        space = fields.get("_space")
        fp, _ = _space_width(space) if isinstance(space, Mapping) else (None, 0)
        for known, width in self.spaces_.items():
            encoded = _space_encode(space, config) if known == fp else None
            row += list(encoded) if encoded is not None and len(encoded) == width else [0.0] * width
        return row

    def transform(self, configs: Sequence[Mapping[str, Any]], fields: Mapping[str, Any],
                  resources: Sequence[Mapping[str, Any] | None] | None = None) -> np.ndarray:
        """Rows for `configs` of one workload (`fields`: kernel, key, device, kernel_info, ...)."""
        if not hasattr(self, "knobs_"):
            raise RuntimeError("FeatureEncoder is not fitted; call fit(records) first")
        prob = problem(fields)
        workload = workload_vector(fields, prob)
        rows = []
        for i, config in enumerate(configs):
            row = self._knob_columns(config) + workload + derived_vector(config, prob)
            if self.use_resources:
                row += resource_vector(resources[i] if resources is not None else None)
            if self.spaces_:
                row += self._space_columns(config, fields)
            rows.append(row)
        out = np.asarray(rows, dtype=float).reshape(len(rows), self.n_features)
        return np.where(np.isfinite(out), out, MISSING)

    def transform_workload(self, workload: Any) -> np.ndarray:
        """Rows for every record of a `datasets.Workload`."""
        return self.transform([r["config"] for r in workload.records], workload.fields,
                              [r.get("resources") for r in workload.records])


_ABSENT = object()
_SPACE_CACHE: dict[str, Any] = {}


def _space_width(space_json: Mapping[str, Any]) -> tuple[str | None, int]:
    space = _space_from_json(space_json)
    return (space.fingerprint(), space.encoded_size) if space is not None else (None, 0)


def _space_from_json(space_json: Any) -> Any:
    import json

    import search

    text = json.dumps(space_json, sort_keys=True)
    if text not in _SPACE_CACHE:
        try:
            _SPACE_CACHE[text] = search.Space.from_json(space_json)
        except Exception:  # noqa: BLE001 - a space this version cannot read gives no columns
            _SPACE_CACHE[text] = None
    return _SPACE_CACHE[text]


def _space_encode(space_json: Any, config: Mapping[str, Any]) -> np.ndarray | None:
    space = _space_from_json(space_json)
    try:
        return np.asarray(space.encode(config), dtype=float) if space is not None else None
    except Exception:  # noqa: BLE001 - a config outside the space gets zeros
        return None


def failure_label(status: str) -> bool:
    """True for the statuses a config alone predicts: it does not build or is not valid."""
    return status in ("compile_error", "invalid")


def training_table(dataset: Dataset, encoder: FeatureEncoder, target: str = "log_ratio") -> dict[str, np.ndarray]:
    """Every record of `dataset` as rows: ``X``, ``y`` (target, NaN for failures), ``group``
    (workload index), ``times``, ``top10`` (in the workload's fastest 10%), ``failed``
    (`failure_label`), ``status`` and ``kernel`` (object arrays)."""
    parts: dict[str, list[Any]] = {k: [] for k in ("X", "y", "group", "times", "top10", "failed", "status", "kernel")}
    for index, workload in enumerate(dataset):
        n = len(workload.records)
        parts["X"].append(encoder.transform_workload(workload))
        parts["y"].append(workload.targets(target))
        parts["group"].append(np.full(n, index))
        parts["times"].append(workload.times)
        parts["top10"].append(workload.top_fraction(0.1))
        parts["failed"].append(np.array([failure_label(s) for s in workload.statuses], dtype=bool))
        parts["status"].append(np.array(workload.statuses, dtype=object))
        parts["kernel"].append(np.array([workload.kernel] * n, dtype=object))
    if not parts["X"]:
        return {"X": np.zeros((0, encoder.n_features))} | {k: np.zeros(0) for k in parts if k != "X"}
    return {k: np.concatenate(v) for k, v in parts.items()}
