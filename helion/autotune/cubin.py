"""Per-kernel resources read from an NVIDIA cubin (an ELF file), without a GPU.

``CompiledKernel.n_regs``/``n_spills`` come from the CUDA driver when a kernel is loaded; a compile
worker has no GPU, so it reads the same facts from the ``.nv.info`` section that ptxas writes:
``EIATTR_REGCOUNT`` (registers per thread) and ``EIATTR_FRAME_SIZE`` (local-memory stack frame in
bytes per thread, what the driver reports as ``CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES``; Triton's
``n_spills`` is that divided by 4).
"""
from __future__ import annotations

import struct

_EIFMT_SVAL = 0x04  # an attribute with a sized payload; the others carry a 16-bit value inline
_EIATTR_REGCOUNT = 0x2F
_EIATTR_FRAME_SIZE = 0x11
_SHT_SYMTAB = 2


def kernel_resources(cubin: bytes) -> dict[str, dict[str, int]]:
    """``{function name: {"registers": n, "frame_bytes": n}}`` for every function of ``cubin``."""
    if cubin[:4] != b"\x7fELF" or cubin[4] != 2:
        raise ValueError("not a 64-bit ELF cubin")
    sections = _sections(cubin)
    names = _symbol_names(cubin, sections)
    found: dict[str, dict[str, int]] = {}
    for name, _, offset, size, _ in sections:
        if name != ".nv.info":  # per-function register counts live in the global section
            continue
        for attribute, payload in _attributes(cubin[offset:offset + size]):
            if attribute in (_EIATTR_REGCOUNT, _EIATTR_FRAME_SIZE) and len(payload) == 8:
                symbol, value = struct.unpack("<II", payload)
                key = "registers" if attribute == _EIATTR_REGCOUNT else "frame_bytes"
                found.setdefault(names.get(symbol, str(symbol)), {})[key] = value
    return found


def _sections(elf: bytes) -> list[tuple[str, int, int, int, int]]:
    """(name, type, offset, size, link) of every section, in header order."""
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    entsize, count, strndx = struct.unpack_from("<HHH", elf, 0x3A)
    headers = [struct.unpack_from("<IIQQQQI", elf, shoff + i * entsize) for i in range(count)]
    names_at = headers[strndx][4]
    return [(_string(elf, names_at + name), kind, offset, size, link)
            for name, kind, _, _, offset, size, link in headers]


def _symbol_names(elf: bytes, sections: list[tuple[str, int, int, int, int]]) -> dict[int, str]:
    names: dict[int, str] = {}
    for _, kind, offset, size, link in sections:
        if kind == _SHT_SYMTAB:
            strings_at = sections[link][2]
            for index in range(size // 24):  # Elf64_Sym: st_name first
                name, = struct.unpack_from("<I", elf, offset + index * 24)
                names[index] = _string(elf, strings_at + name)
    return names


def _attributes(info: bytes) -> list[tuple[int, bytes]]:
    """``(attribute, payload)`` of each sized entry of an ``.nv.info`` section."""
    entries, at = [], 0
    while at + 4 <= len(info):
        fmt, attribute, value = struct.unpack_from("<BBH", info, at)
        at += 4
        if fmt == _EIFMT_SVAL:
            entries.append((attribute, info[at:at + value]))
            at += value
    return entries


def _string(data: bytes, offset: int) -> str:
    return data[offset:data.index(b"\0", offset)].decode()
