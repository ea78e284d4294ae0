"""The kernels as the GPU backend compiles them: NVRTC (through CuPy's binding), with our
options and template name expressions, for sm_80 and sm_90. Runs wherever CuPy and an NVRTC
library are installed, GPU or not (CI compiles the same files with nvcc instead)."""

from __future__ import annotations

import pytest

from gpu_milvus import kernels


def _nvrtc():  # type: ignore[no-untyped-def]
    try:
        from cupy_backends.cuda.libs import nvrtc

        nvrtc.getVersion()
    except Exception as exc:  # no CuPy, or no NVRTC library to load
        pytest.skip(f"NVRTC not available: {type(exc).__name__}")
    return nvrtc


@pytest.mark.parametrize("arch", ["compute_80", "compute_90"])
@pytest.mark.parametrize("name", sorted(kernels.NAME_EXPRESSIONS))
def test_every_kernel_file_compiles_with_nvrtc(name: str, arch: str) -> None:
    nvrtc = _nvrtc()
    expressions = kernels.NAME_EXPRESSIONS[name]
    program = nvrtc.createProgram(kernels.source(name), name, [], [])
    try:
        for expr in expressions:
            nvrtc.addNameExpression(program, expr)
        try:
            nvrtc.compileProgram(program, [*kernels.OPTIONS, f"-arch={arch}"])
        except Exception:
            pytest.fail(nvrtc.getProgramLog(program))
        assert b".entry" in nvrtc.getPTX(program)
        lowered = [nvrtc.getLoweredName(program, expr) for expr in expressions]
        assert all(lowered) and len(set(lowered)) == len(expressions)
    finally:
        nvrtc.destroyProgram(program)
