"""``Kernel`` (the decorated function) and ``BoundKernel`` (one specialization of it).

Calling a kernel binds the arguments to a specialization key (shapes, strides, dtypes, devices,
int/bool values), traces the host code once on meta tensors to lower every device loop, picks a
config and runs the host code with launches of the compiled Triton kernels.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from .. import exc
from ..compiler import codegen, host_ops
from ..compiler.host_split import HostProgram, split
from ..compiler.ir import Block, DeviceFunction
from ..compiler.lower import DeviceLowering
from ..compiler.source import KernelSource
from ..compiler.codegen import site_offsets
from ..compiler.space import build_space
from ..compiler.standins import MetaLikes
from ..language._dispatch import executing, running_with, tracing_host
from .config import Config
from .interpreter import interpreted_stdlib
from .loader import load_module
from .reference import ReferenceExecutor
from .settings import Settings


class Kernel:
    """A ``@helion.kernel`` function: call it like the Python function it decorates."""

    def __init__(self, fn: Callable[..., Any], *, configs: Sequence[Config | dict] | None = None,
                 settings: Settings | None = None):
        self.fn = fn
        self.settings = settings or Settings()
        self.configs = [c if isinstance(c, Config) else Config(c) for c in (configs or [])]
        self.signature = inspect.signature(fn)
        self._program: HostProgram | None = None
        self._bound: dict[Any, BoundKernel] = {}
        self._runners: dict[Any, Callable[..., Any]] = {}
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    @functools.cached_property
    def source_hash(self) -> str:
        """Fingerprint of the kernel's source and the helpers it calls (the cache keys on it)."""
        from ..autotune.cache import source_fingerprint
        return source_fingerprint(self.fn)

    @property
    def program(self) -> HostProgram:
        if self._program is None:
            self._program = split(KernelSource.parse(self.fn))
        return self._program

    def normalize_args(self, args: tuple, kwargs: dict) -> tuple:
        if not kwargs and len(args) == len(self.signature.parameters):
            return args
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return tuple(bound.arguments.values())

    def specialization_key(self, args: tuple) -> tuple:
        static = self.settings.static_shapes
        key = tuple(_arg_key(a, static) for a in args)
        if static:
            return key
        sizes = [s for a in args if isinstance(a, torch.Tensor) for s in a.shape]
        return key + (tuple(sizes.index(s) for s in sizes),)  # which sizes are equal (duck sizing)

    def bind(self, args: Sequence[Any], kwargs: dict | None = None) -> "BoundKernel":
        """The :class:`BoundKernel` for these arguments (cached per specialization key)."""
        args = self.normalize_args(tuple(args), kwargs or {})
        key = self.specialization_key(args)
        bound = self._bound.get(key)
        if bound is None:
            bound = self._bound[key] = BoundKernel(self, args)
        return bound

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        args = self.normalize_args(args, kwargs)
        if self.settings.reference_mode:
            return self.run_reference(*args)
        key = self.specialization_key(args)
        runner = self._runners.get(key)
        if runner is None:
            try:
                if key not in self._bound:  # a first call may tune: start its workers meanwhile
                    from ..autotune.engine import prestart
                    prestart(self, args)
                bound = self.bind(args)
                bound.chosen_config = Config(bound.choose_config(args))
                runner = self._runners[key] = bound.compile_config(bound.chosen_config)
            except exc.HelionError as e:
                raise e.with_traceback(None) from None
        return runner(*args)

    def run_reference(self, *args: Any) -> Any:
        """Run the kernel eagerly in PyTorch (reference mode)."""
        sizes = list(self.configs[0].get("block_sizes", [])) if self.configs else None
        with executing(ReferenceExecutor(sizes, tunables=dict(self.configs[0]) if self.configs else None)):
            return self.fn(*args)

    def reset(self) -> None:
        """Forget bound kernels and chosen configs."""
        self._bound.clear()
        self._runners.clear()


def _arg_key(value: Any, static: bool = True) -> Any:
    if isinstance(value, torch.Tensor):
        if static:
            return ("tensor", value.dtype, value.device.type, tuple(value.shape), tuple(value.stride()))
        # dynamic shapes: one kernel per power-of-two size bucket (size-1 dims stay special) and layout
        buckets = tuple(s if s <= 1 else 1 << (s - 1).bit_length() for s in value.shape)
        layout = tuple(sorted(range(value.dim()), key=lambda d: (value.stride(d), -d)))
        unit = tuple(st == 1 for st in value.stride())
        return ("tensor", value.dtype, value.device.type, buckets, layout, unit)
    if isinstance(value, bool) or isinstance(value, int):
        return (type(value).__name__, value)
    if isinstance(value, float):
        return ("float",)
    if isinstance(value, (list, tuple)):
        return tuple(_arg_key(v, static) for v in value)
    try:
        hash(value)
        return ("value", value)
    except TypeError:
        return ("object", type(value).__name__)


@contextlib.contextmanager
def _tracing_mode(static: bool, args: tuple) -> Iterator[tuple]:
    """Arguments to trace host code with: meta tensors, or (dynamic shapes) fake tensors whose
    sizes above 1 are symbolic, with the fake mode active so host allocations are symbolic too."""
    if static:
        with MetaLikes():
            yield tuple(_meta(a) for a in args)
        return
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import DimDynamic, ShapeEnv, StatelessSymbolicContext
    mode = FakeTensorMode(shape_env=ShapeEnv())

    def fake(value: Any) -> Any:
        if not isinstance(value, torch.Tensor):
            return value
        # duck sizing: equal sizes share one symbol (the key records which sizes are equal)
        dynamic = [DimDynamic.DUCK if s > 1 else DimDynamic.STATIC for s in value.shape]
        return mode.from_tensor(value, symbolic_context=StatelessSymbolicContext(dynamic_sizes=dynamic))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        traced = tuple(fake(a) for a in args)
        with mode:
            yield traced


def _meta(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return torch.empty_strided(value.shape, value.stride(), dtype=value.dtype, device="meta")
    if isinstance(value, (list, tuple)):
        return type(value)(_meta(v) for v in value)
    return value


def is_hopper(device: torch.device) -> bool:
    """An sm_90 GPU (H100 / H200): the space's defaults use its TMA matmul pipeline."""
    return device.type == "cuda" and torch.cuda.get_device_capability(device)[0] == 9


class BoundKernel:
    """A kernel specialized to one set of argument shapes, dtypes and devices."""

    def __init__(self, kernel: Kernel, args: tuple, tunable_values: dict[str, Any] | None = None,
                 device: torch.device | None = None, block_values: dict[int, int] | None = None):
        self.kernel = kernel
        self.settings = kernel.settings
        devices = [a.device for a in args if isinstance(a, torch.Tensor)]
        self.device = device or (devices[0] if devices else torch.device("cpu"))
        # hl.register_tunable: name -> fragment, and the values this trace ran with; a config with
        # other values compiles through a variant traced with those (``for_config``)
        self.tunables: dict[str, Any] = {}
        self.tunable_values: dict[str, Any] = dict(tunable_values or {})
        self._variants: dict[str, BoundKernel] = {}
        # hl.register_block_size values host or device code read as numbers (block id -> the
        # value this trace used); a config with other sizes for them compiles through a variant
        self.block_values: dict[int, int] = dict(block_values or {})
        self.read_blocks: set[int] = set()
        self._meta_args = tuple(_meta(a) for a in args)
        self.gpu = self.device.type == "cuda"
        self.num_sms = torch.cuda.get_device_properties(self.device).multi_processor_count if self.gpu else 4
        self.blocks: list[Block] = []
        self.registered: dict[int, tuple[int, int]] = {}
        self.functions: list[DeviceFunction | None] = [None] * len(kernel.program.loops)
        # what each device loop's launcher received while tracing (meta tensors, host scalars):
        # the compile workers rebuild the launch from it to compile without the real tensors
        self.launch_values: list[tuple | None] = [None] * len(kernel.program.loops)
        self.arg_shapes = [list(a.shape) for a in args if isinstance(a, torch.Tensor)]
        self.arg_dtypes = [str(a.dtype).replace("torch.", "") for a in args if isinstance(a, torch.Tensor)]
        self._trace(args)
        self.elided_fills = frozenset(n for f in self.functions if f is not None for n in f.elided_fills)
        self.config_space = build_space(self.blocks, [f for f in self.functions if f is not None],
                                        self.registered, hopper=is_hopper(self.device),
                                        tunables={n: f.to_param() for n, f in self.tunables.items()})
        if self.tunables:
            self.config_space = self._with_variant_constraint(self.config_space)
        self._compiled: dict[str, Callable[..., Any]] = {}
        self.chosen_config: Config | None = None  # what a plain call picked (tuned or given)
        self.numel_max = max([a.numel() for a in args if isinstance(a, torch.Tensor)], default=0)

    # --- tracing --------------------------------------------------------------------------------
    def _trace(self, args: tuple) -> None:
        program = self.kernel.program
        name = self.kernel.fn.__name__

        def trace_launch(index: int, values: tuple) -> None:
            if self.functions[index] is None:
                self.launch_values[index] = values
                loop = program.loops[index]
                suffix = "" if len(program.loops) == 1 else f"_{index}"
                lowering = DeviceLowering(program.source, loop, dict(zip(loop.captured, values)),
                                          self.blocks, self.device, f"{name}{suffix}")
                self.functions[index] = lowering.run()

        host = program.make_host_fn(trace_launch)
        watch = host_ops.watching(program.source.filename, name, list(self.settings.ignore_warnings))
        with tracing_host(self), _tracing_mode(self.settings.static_shapes, args) as traced_args, watch:
            try:
                try:
                    host(*traced_args)
                except RuntimeError as e:
                    if "meta tensors" not in str(e) and "data-dependent" not in str(e).lower():
                        raise
                    error = exc.UnsupportedOperation(
                        "host code reads the data of a tensor (e.g. .item(), int(t), a size taken "
                        "from a tensor's values) while the kernel binds, where tensors have shapes "
                        "but no values; take sizes from shapes (x.size(0)) or pass the value as an "
                        "int argument")
                    tb = e.__traceback__
                    while tb is not None:
                        if tb.tb_frame.f_code.co_filename == program.source.filename:
                            error.at(program.source.filename, tb.tb_lineno)
                        tb = tb.tb_next
                    raise error from None
            except exc.HelionError as e:
                if e.lineno is None:
                    tb = e.__traceback__
                    while tb is not None:
                        if tb.tb_frame.f_code.co_filename == program.source.filename:
                            e.at(program.source.filename, tb.tb_lineno)
                        tb = tb.tb_next
                raise

    def register_block_size(self, low: int, high: int) -> tuple[int, int]:
        """Called by ``hl.register_block_size`` while tracing host code: the block's id and the
        value this trace gives it (a variant's, else a provisional power of two in range)."""
        knob = sum(1 for b in self.blocks if b.kind == "tile" and b.knob is not None)
        block = Block(len(self.blocks), "tile", None, knob=knob)
        self.blocks.append(block)
        self.registered[block.id] = (int(low), int(high))
        if block.id not in self.block_values:
            guess = 1 << max(int(low) - 1, 0).bit_length()
            while guess * 2 <= min(int(high), 64):
                guess *= 2
            self.block_values[block.id] = guess
        return block.id, self.block_values[block.id]

    def read_block_size(self, block_id: int) -> None:
        """Called when traced code reads a registered block size as a number."""
        self.read_blocks.add(block_id)

    def _registered_sizes(self, config: dict[str, Any]) -> dict[int, int]:
        """The config's value of each registered block size read as a number."""
        sizes = config.get("block_sizes") or []
        return {b.id: sizes[b.knob] for b in self.blocks
                if b.id in self.read_blocks and b.knob is not None and b.knob < len(sizes)}

    def register_tunable(self, name: str, fragment: Any) -> Any:
        """Called by ``hl.register_tunable`` while tracing host code."""
        if name in self.tunables:
            raise exc.HelionError(f"hl.register_tunable: a tunable named {name!r} is already registered")
        self.tunables[name] = fragment
        return self.tunable_values.setdefault(name, fragment.default())

    def for_config(self, config: dict[str, Any]) -> "BoundKernel":
        """The bound kernel whose trace used ``config``'s tunable values: self, or a variant
        traced with them (host code may size tiles from a tunable)."""
        wanted = {n: config[n] for n in self.tunables if n in config}
        sizes = self._registered_sizes(config)
        if all(self.tunable_values.get(n) == v for n, v in wanted.items()) \
                and all(self.block_values.get(b) == v for b, v in sizes.items()):
            return self
        key = Config(wanted).to_json() + repr(sorted(sizes.items()))
        variant = self._variants.get(key)
        if variant is None:
            variant = self._variants[key] = BoundKernel(self.kernel, self._meta_args, wanted, self.device,
                                                        {**self.block_values, **sizes})
            variant.num_sms, variant.gpu = self.num_sms, self.gpu
        return variant

    def _with_variant_constraint(self, space: Any) -> Any:
        """``space`` and one more constraint: the bound kernel traced with a config's tunable values
        accepts the config. Its blocks and sites differ from this trace's (a tunable may size a
        buffer or fix a block), so its constraints may reject what this trace's accept (a partial-sum
        buffer of 4 rows read through a tensor descriptor whose box is then under 128 bytes)."""
        import search

        def variant_accepts(config: dict[str, Any]) -> bool:
            variant = self.for_config(config)
            if variant is self:
                return True
            try:
                variant.normalize_config(config)
            except exc.InvalidConfig:
                return False
            return True

        constraint = search.Constraint("tunable_variant", variant_accepts,
                                       message="the kernel traced with these hl.register_tunable values "
                                               "rejects the rest of the config")
        return search.Space(dict(space.params), [*space.constraints, constraint],
                            detached_constraints=space.detached_constraints)

    # --- configs ----------------------------------------------------------------------------------
    def normalize_config(self, config: Config | dict[str, Any]) -> dict[str, Any]:
        """Fill missing knobs with defaults and check the config against the space."""
        import search
        values = self._overridden(dict(config))
        unknown = set(values) - set(self.config_space.names)
        if unknown:
            raise exc.InvalidConfig(f"unknown config keys {sorted(unknown)}; this kernel's knobs are "
                                    f"{list(self.config_space.names)}")
        values = self._broadcast_indexing(self._clamp_reduction_loops(self._clamp_block_sizes(values)))
        try:
            return self.config_space.normalize(values)
        except (search.InvalidConfig, search.InvalidValue, ValueError) as e:
            raise exc.InvalidConfig(f"invalid config {values}: {e}") from None

    def _overridden(self, values: dict[str, Any]) -> dict[str, Any]:
        """``values`` with the ``autotune_config_overrides`` setting applied, fitted to this kernel."""
        for name, value in self.settings.autotune_config_overrides.items():
            param = self.config_space.params.get(name)
            if param is None:
                continue
            elements = getattr(param, "elements", None)
            if elements is not None and isinstance(value, (list, tuple)):
                defaults = param.default
                value = [value[i] if i < len(value) else defaults[i] for i in range(len(elements))]
            values[name] = value
        return values

    def _clamp_block_sizes(self, values: dict[str, Any]) -> dict[str, Any]:
        """Powers of two beyond a dimension's bounds are clamped (a config written for larger
        inputs still runs); anything else is left for ``normalize`` to reject."""
        sizes = values.get("block_sizes")
        param = self.config_space.params.get("block_sizes")
        if not isinstance(sizes, (list, tuple)) or param is None or len(sizes) != len(param.elements):
            return values
        clamped = []
        for size, item in zip(sizes, param.elements):
            if isinstance(size, int) and size > 0 and not size & (size - 1):
                size = min(max(size, item.low), item.high)
            clamped.append(size)
        return {**values, "block_sizes": clamped}

    def _broadcast_indexing(self, values: dict[str, Any]) -> dict[str, Any]:
        """``indexing="pointer"``: one form for every site (the public spelling)."""
        indexing, param = values.get("indexing"), self.config_space.params.get("indexing")
        if isinstance(indexing, str) and param is not None:
            return {**values, "indexing": [indexing] * len(param.elements)}
        return values

    def _clamp_reduction_loops(self, values: dict[str, Any]) -> dict[str, Any]:
        """A ``reduction_loops`` chunk (a power of two) outside this kernel's choices becomes the
        nearest chunk it offers below it (None, persistent, when it offers none): public configs
        name chunks such as 32768 beyond the chunks this space searches."""
        chunks = values.get("reduction_loops")
        param = self.config_space.params.get("reduction_loops")
        if not isinstance(chunks, (list, tuple)) or param is None or len(chunks) != len(param.elements):
            return values
        fitted = []
        for chunk, item in zip(chunks, param.elements):
            choices = list(getattr(item, "choices", ()))
            if isinstance(chunk, int) and chunk > 0 and not chunk & (chunk - 1) and chunk not in choices:
                below = [c for c in choices if isinstance(c, int) and c < chunk]
                chunk = max(below) if below else (None if None in choices else chunk)
            fitted.append(chunk)
        return {**values, "reduction_loops": fitted}

    def choose_config(self, args: tuple) -> dict[str, Any]:
        """The config a plain call uses: ``config=`` (or the fastest of ``configs=``), the default
        when ``use_default_config`` is set, a cached winner, else the result of autotuning on
        ``args`` (``helion.autotune.choose``)."""
        from ..autotune.choose import choose_config
        return choose_config(self, args)

    def key_record(self) -> dict[str, Any]:
        """The specialization key in the trial-record form (shapes and dtypes of tensor args)."""
        return {"shapes": self.arg_shapes, "dtypes": self.arg_dtypes}

    def to_triton_code(self, config: Config | dict[str, Any] | None = None) -> str:
        """The Triton source (kernels and launchers) for ``config`` (default: the default config)."""
        if config is None:
            config = self.kernel.configs[0] if self.kernel.configs else self.config_space.default()
        cfg = self.normalize_config(config)
        bound = self.for_config(cfg)
        return "\n\n".join(bound._source(f, cfg) for f in bound.functions if f is not None)

    def sources(self, config: Config | dict[str, Any], gpu: bool | None = None) -> list[str | None]:
        """The generated module source of each device loop under ``config`` (None for a loop the
        trace never reached), in ``functions`` order; ``gpu=True`` writes GPU code whatever the
        tensors' device (the compile workers build it for a target from a kernel bound on CPU)."""
        cfg = self.normalize_config(config)
        bound = self.for_config(cfg)
        return [None if f is None else bound._source(f, cfg, gpu) for f in bound.functions]

    def _source(self, fn: DeviceFunction, config: dict[str, Any], gpu: bool | None = None) -> str:
        index_dtype = torch.int64 if self.numel_max >= 2 ** 31 else torch.int32
        functions = [f for f in self.functions if f is not None]
        sites = site_offsets(functions)[functions.index(fn)]
        return codegen.generate(fn, config, self.gpu if gpu is None else gpu,
                                dot_precision=self.settings.dot_precision, index_dtype=index_dtype, sites=sites,
                                num_sms=self.num_sms)

    def compile_config(self, config: Config | dict[str, Any]) -> Callable[..., Any]:
        """A callable that runs this kernel with ``config`` (compiled once per config)."""
        cfg = self.normalize_config(config)
        key = Config(cfg).to_json()
        runner = self._compiled.get(key)
        if runner is not None:
            return runner
        if self.for_config(cfg) is not self:
            runner = self._compiled[key] = self.for_config(cfg).compile_config(cfg)
            return runner
        launchers: list[Callable[..., Any] | None] = []
        modules = []
        for fn in self.functions:
            if fn is None:
                launchers.append(None)
                continue
            source = self._source(fn, cfg)
            if self.settings.print_output_code:
                print(source)
            module = load_module(source, interpret=not self.gpu, cache_dir=self.settings.cache_dir)
            modules.append(module)
            launchers.append(module.launch if self.gpu else _interpreted(module.launch))

        def launch(index: int, values: tuple) -> None:
            launcher = launchers[index]
            if launcher is None:
                raise exc.InternalError("a device loop ran that was not reached while tracing")
            launcher(*values)

        host = self.kernel.program.make_host_fn(launch, self.elided_fills)
        normalize = self.kernel.normalize_args

        tunables = {n: cfg[n] for n in self.tunables}
        registered = [cfg["block_sizes"][b.knob] for b in self.blocks if b.id in self.registered]

        def run(*args: Any, **kwargs: Any) -> Any:
            with running_with({**tunables, "\0block_sizes": registered}):
                return host(*normalize(args, kwargs))

        run.config = Config(cfg)  # type: ignore[attr-defined]
        run.modules = modules  # type: ignore[attr-defined]  (the benchmark worker reads their binaries)
        self._compiled[key] = run
        return run

    def __call__(self, *args: Any) -> Any:
        return self.compile_config(self.choose_config(args))(*args)


def _interpreted(launch: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any) -> None:
        with interpreted_stdlib():
            launch(*args)
    return run


