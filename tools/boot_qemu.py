#!/usr/bin/env python3
"""Boots the Sluice image under QEMU the one way the project does it.

Used by `tools/sluice run` (console streamed to the terminal) and by the
boot-test harness (console captured and checked). The machine is always a
q35 under TCG with an emulated IOMMU, an `edu` DMA device and isa-debug-exit,
so what a developer sees by hand is exactly what the tests see.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent

# isa-debug-exit turns a guest write of v to port 0xf4 into exit status (v << 1) | 1.
PASS_STATUS = (0x10 << 1) | 1  # 33
FAIL_STATUS = (0x11 << 1) | 1  # 35

IOMMU_DEVICES = {
    "intel": "intel-iommu",
    "amd": "amd-iommu",
    "none": None,
}


@dataclass
class BootRequest:
    image: Path
    command_line: str = "console=com1"
    vendor: str = "intel"
    iommu_options: str = ""  # e.g. "caching-mode=on,aw-bits=48"
    use_iso: bool = False
    memory: str = "512M"
    edu_devices: int = 1
    cpu: str = "max"
    extra_arguments: list[str] = field(default_factory=list)
    trace_events: list[str] = field(default_factory=list)
    trace_file: Path | None = None
    timeout_seconds: float = 60.0
    # dom0: a kernel (boot module 0), its command line and an initrd (module 1).
    dom0: Path | None = None
    dom0_command_line: str = ""
    dom0_initrd: Path | None = None


class BootRequestError(ValueError):
    """A request this launcher cannot turn into an honest QEMU command."""


def hypervisor_command_line(request: BootRequest) -> str:
    """The hypervisor's command line; under -kernel dom0's rides after " -- " (Xen's convention).

    QEMU 7.2's PVH loader hands -initrd over as the one module of hvm_start_info with an empty
    command line (measured: `boot: module 0: ... ""`), so under -kernel the only place for dom0's
    command line is the hypervisor's own, after " -- ".
    """
    if request.dom0 is None or request.use_iso or not request.dom0_command_line:
        return request.command_line
    return f"{request.command_line} -- {request.dom0_command_line}"


def check_request(request: BootRequest) -> None:
    if request.dom0_initrd is not None and request.dom0 is None:
        raise BootRequestError("--dom0-initrd needs --dom0: the initrd is dom0's second boot module")
    if request.dom0_initrd is not None and not request.use_iso:
        # QEMU 7.2's PVH loader takes exactly one -initrd file (no comma list, no arguments) and
        # -device loader puts bytes in memory without telling the hypervisor where: only GRUB's
        # module2 lines can give the hypervisor a second module.
        raise BootRequestError("--dom0-initrd needs --iso: under -kernel QEMU's PVH loader passes only one module "
                               "(the -initrd file, here dom0's kernel)")
    for path in (request.dom0, request.dom0_initrd):
        if path is not None and not path.is_file():
            raise BootRequestError(f"no such file: {path}")


@dataclass
class BootOutcome:
    verdict: str  # "pass", "fail", "timeout" or "crash"
    status: int | None
    console: str
    seconds: float
    command: list[str]


def make_iso(image: Path, command_line: str, output: Path, modules: list[tuple[Path, str]] | None = None) -> None:
    """GRUB ISO; each module is (file, arguments), its module string "<file name> <arguments>"."""
    command = [str(REPOSITORY / "tools" / "make-iso"), str(image), str(output), command_line]
    for module, arguments in modules or []:
        command += ["--module", str(module), arguments]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def iso_modules(request: BootRequest) -> list[tuple[Path, str]]:
    modules: list[tuple[Path, str]] = []
    if request.dom0 is not None:
        modules.append((request.dom0, request.dom0_command_line))
        if request.dom0_initrd is not None:
            modules.append((request.dom0_initrd, ""))
    return modules


def qemu_command(request: BootRequest, iso: Path | None) -> list[str]:
    command = [
        "qemu-system-x86_64", "-M", "q35", "-accel", "tcg", "-cpu", request.cpu,
        "-m", request.memory, "-smp", "1",
        # Virtual time: edu's 100 ms DMA delay passes instantly, runs repeat exactly.
        "-icount", "shift=10,sleep=off",
        "-nodefaults", "-display", "none", "-no-reboot", "-monitor", "none", "-serial", "stdio",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
    ]
    device = IOMMU_DEVICES[request.vendor]
    if device is not None:
        # The IOMMU must be created before the devices it translates.
        command += ["-device", device + ("," + request.iommu_options if request.iommu_options else "")]
    for _ in range(request.edu_devices):
        command += ["-device", "edu,dma_mask=0xffffffffffffffff"]
    if request.trace_events:
        for event in request.trace_events[:-1]:
            command += ["-trace", f"enable={event}"]
        # The output file must ride on the last -trace option or it is reset to stderr.
        command += ["-trace", f"enable={request.trace_events[-1]},file={request.trace_file}"]
    if iso is not None:
        command += ["-cdrom", str(iso)]
    else:
        command += ["-kernel", str(request.image), "-append", hypervisor_command_line(request)]
        if request.dom0 is not None:
            command += ["-initrd", str(request.dom0)]
    return command + request.extra_arguments


def boot(request: BootRequest, stream=None) -> BootOutcome:
    """Runs QEMU until it exits or the time limit passes; stream gets console text as it arrives."""
    check_request(request)
    with tempfile.TemporaryDirectory(prefix="sluice-boot-") as scratch:
        iso = None
        if request.use_iso:
            iso = Path(scratch) / "sluice.iso"
            make_iso(request.image, request.command_line, iso, iso_modules(request))
        command = qemu_command(request, iso)
        started = time.monotonic()
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        console = bytearray()
        os.set_blocking(process.stdout.fileno(), False)
        timed_out = False
        while True:
            chunk = process.stdout.read()
            if chunk:
                console += chunk
                if stream is not None:
                    stream.write(chunk.decode("utf-8", "replace"))
                    stream.flush()
            if process.poll() is not None:
                rest = process.stdout.read()
                if rest:
                    console += rest
                    if stream is not None:
                        stream.write(rest.decode("utf-8", "replace"))
                break
            if time.monotonic() - started > request.timeout_seconds:
                timed_out = True
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                break
            time.sleep(0.01)
        seconds = time.monotonic() - started
        status = None if timed_out else process.returncode
        if timed_out:
            verdict = "timeout"
        elif status == PASS_STATUS:
            verdict = "pass"
        elif status == FAIL_STATUS:
            verdict = "fail"
        else:
            verdict = "crash"
        text = console.decode("utf-8", "replace").replace("\r\n", "\n")
        return BootOutcome(verdict, status, text, seconds, command)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=REPOSITORY / "build" / "sluice.elf")
    parser.add_argument("--vendor", choices=sorted(IOMMU_DEVICES), default="intel")
    parser.add_argument("--iommu-options", default="", help="extra properties for the IOMMU device")
    parser.add_argument("--cmdline", default="console=com1", help="the hypervisor command line")
    parser.add_argument("--iso", action="store_true", help="boot through GRUB from an ISO instead of -kernel")
    parser.add_argument("--dom0", type=Path, help="dom0's kernel (e.g. build/tests/guests/pv_checks.elf)")
    parser.add_argument("--dom0-cmdline", default="", help="dom0's command line")
    parser.add_argument("--dom0-initrd", type=Path, help="dom0's initrd (needs --iso)")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("qemu_arguments", nargs="*", help="extra QEMU arguments (after --)")
    arguments = parser.parse_args()

    request = BootRequest(image=arguments.image, command_line=arguments.cmdline, vendor=arguments.vendor,
                          iommu_options=arguments.iommu_options, use_iso=arguments.iso,
                          extra_arguments=arguments.qemu_arguments, timeout_seconds=arguments.timeout,
                          dom0=arguments.dom0, dom0_command_line=arguments.dom0_cmdline,
                          dom0_initrd=arguments.dom0_initrd)
    try:
        outcome = boot(request, stream=sys.stdout)
    except BootRequestError as problem:
        print(f"[sluice] {problem}", file=sys.stderr)
        return 2
    if outcome.verdict == "pass":
        print(f"\n[sluice] verdict: pass ({outcome.seconds:.2f} s)")
        return 0
    if outcome.verdict == "fail":
        print(f"\n[sluice] verdict: fail ({outcome.seconds:.2f} s)")
        return 1
    if outcome.verdict == "timeout":
        print(f"\n[sluice] no verdict: QEMU still running after {request.timeout_seconds:.0f} s, killed")
    else:
        print(f"\n[sluice] no verdict: QEMU exited with status {outcome.status} "
              f"(33 = pass, 35 = fail; anything else means the hypervisor never reached its exit path)")
    return 2


if __name__ == "__main__":
    sys.exit(main())
