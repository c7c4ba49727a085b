"""Faults for the engine's tests, injected into the benchmark worker process only.

The tests put this folder on ``sys.path`` and set ``HELION_TEST_FAULTS=1`` before the worker
starts; the worker's interpreter then imports this module at start-up. Candidates are told apart
by ``num_warps``: 8 aborts the process, 16 hangs, 2 returns a wrong answer fast, 32 corrupts its
input in place. The default config (4 warps) is left alone: it is the accuracy baseline.
"""
import os
import time

if os.environ.get("HELION_TEST_FAULTS") == "1":
    import helion.runtime.kernel as _kernel

    _compile = _kernel.BoundKernel.compile_config

    def _faulty_compile(self, config):
        run = _compile(self, config)
        warps = run.config["num_warps"]
        if warps == 8:
            return lambda *args: os.abort()
        if warps == 16:
            return lambda *args: time.sleep(3600)
        if warps == 2:
            return lambda *args: args[0] * 0
        if warps == 32:
            def corrupting(*args):
                out = run(*args)
                args[0].mul_(1.5)
                return out
            return corrupting
        return run

    _kernel.BoundKernel.compile_config = _faulty_compile
