#!/usr/bin/env python3
"""Writes the seed corpus of tests/fuzz/elf_fuzzer.cpp into tests/fuzz/corpus/elf/.

Small ELF-64 images laid out from the specification (header, program headers, contents, section
headers), with Xen notes as elfnote.h defines them. Each stays under the fuzz runs' 4096-byte limit.
Run it again after changing it; the seeds are committed.
"""
import os
import struct
import sys

PT_LOAD, PT_NOTE = 1, 4
SHT_NOTE = 7


def note(name, note_type, descriptor, alignment=4):
    name_bytes = name.encode() + b"\0" if name else b""
    entry = struct.pack("<III", len(name_bytes), len(descriptor), note_type) + name_bytes
    entry += b"\0" * (-len(entry) % alignment)
    entry += descriptor
    entry += b"\0" * (-len(entry) % alignment)
    return entry


def xen(note_type, descriptor):
    return note("Xen", note_type, descriptor)


def q(value):
    return struct.pack("<Q", value)


def l(value):
    return struct.pack("<I", value)


def image(loads, note_segments=(), note_sections=(), entry=0, machine=62):
    """loads: (vaddr, paddr, contents, memsz, flags); note_segments/sections: (bytes, alignment)."""
    programs = [(PT_LOAD, flags, vaddr, paddr, contents, memsz, 0x1000) for vaddr, paddr, contents, memsz, flags in loads]
    programs += [(PT_NOTE, 4, 0, 0, notes, len(notes), alignment) for notes, alignment in note_segments]
    body = bytearray(64 + 56 * len(programs))
    offsets = []
    for program in programs:
        body += b"\0" * (-len(body) % 16)
        offsets.append(len(body))
        body += program[4]
    section_offsets = []
    for notes, _ in note_sections:
        body += b"\0" * (-len(body) % 16)
        section_offsets.append(len(body))
        body += notes
    body += b"\0" * (-len(body) % 8)
    shoff = len(body)
    body += b"\0" * 64
    for (notes, alignment), offset in zip(note_sections, section_offsets):
        body += struct.pack("<IIQQQQIIQQ", 0, SHT_NOTE, 0, 0, offset, len(notes), 0, 0, alignment, 0)
    header = b"\x7fELF" + bytes([2, 1, 1]) + b"\0" * 9
    header += struct.pack("<HHIQQQIHHHHHH", 2, machine, 1, entry, 64, shoff, 0, 64, 56, len(programs), 64,
                          len(note_sections) + 1, 0)
    body[0:64] = header
    for index, (ptype, flags, vaddr, paddr, contents, memsz, alignment) in enumerate(programs):
        struct.pack_into("<IIQQQQQQ", body, 64 + 56 * index, ptype, flags, offsets[index], vaddr, paddr, len(contents),
                         memsz, alignment)
    return bytes(body)


KERNEL_MAP = 0xffffffff80000000
LINUX_NOTES = b"".join([
    xen(6, b"linux\0"), xen(7, b"2.6\0"), xen(5, b"xen-3.0\0"), xen(3, q(KERNEL_MAP)), xen(15, q(0x8000000000)),
    xen(1, q(KERNEL_MAP + 0x1000040)), xen(10, b"!writable_page_tables"), xen(9, b"yes\0"),
    xen(13, q(1) + q(1)), xen(16, l(1)), xen(4, q(0)), xen(2, q(KERNEL_MAP + 0x1001000)),
    xen(17, l((1 << 0) | (1 << 11) | (1 << 15))), xen(8, b"generic\0"), xen(14, l(1)), note("GNU", 3, b"\xaa" * 20),
])

SEEDS = {
    "linux-pv": image([(KERNEL_MAP + 0x1000000, 0x1000000, b"\x90" * 0x100, 0x2000, 5),
                       (KERNEL_MAP + 0x1400000, 0x1400000, b"\x01" * 0x40, 0x3000, 6),
                       (0, 0x1600000, b"\x02" * 0x20, 0x1000, 6)],
                      [(LINUX_NOTES, 4)], entry=0x1000000),
    "generic-small": image([(0x200000, 0x200000, b"\xcc" * 0x100, 0x1000, 5)],
                           [(xen(8, b"generic\0") + xen(5, b"xen-3.0\0") + xen(10, b"dom0|!pae_pgdir_above_4gb\0"), 4)],
                           entry=0x200010),
    "section-notes": image([(0x400000, 0x400000, b"\xf4" * 0x40, 0x40, 5)], [],
                           [(xen(6, b"linux\0") + xen(5, b"xen-3.0\0") + xen(1, l(0x400000)), 4)]),
    "aligned8-notes": image([(0x1000, 0x1000, b"\x00" * 0x10, 0x10, 4)],
                            [(note("GNU", 5, q(3), 8) + note("Xen", 18, l(0x1000), 8), 8)]),
    "pvh-phys32": image([(0x100000, 0x100000, b"\xfa" * 0x80, 0x2000, 7)],
                        [(xen(18, l(0x100000)) + xen(6, b"linux\0"), 4)], entry=0x100000),
    "bad-note": image([(0x1000, 0x1000, b"\x00" * 0x10, 0x10, 4)],
                      [(struct.pack("<III", 4, 0x40, 2) + b"Xen\0" + l(0x1000), 4)]),
}


def main():
    directory = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "elf")
    os.makedirs(directory, exist_ok=True)
    for name, data in SEEDS.items():
        if len(data) > 4096:
            sys.exit(f"seed {name} is {len(data)} bytes, over the fuzz runs' 4096-byte limit")
        with open(os.path.join(directory, name), "wb") as seed:
            seed.write(data)
    print(f"wrote {len(SEEDS)} seeds to {directory}")


if __name__ == "__main__":
    main()
