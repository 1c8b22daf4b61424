#!/usr/bin/env python3
"""Runs one boot scenario: boots the real image under QEMU and checks its console.

A scenario is a TOML file (see tests/boot/scenarios/ and docs/testing.md):

    description = "what this proves"
    boot = "kernel"            # "kernel" (PVH entry through -kernel) or "iso" (GRUB, multiboot2)
    vendor = "intel"           # "intel", "amd" or "none": the emulated IOMMU
    iommu_options = ""         # extra properties of the IOMMU device
    command_line = "..."       # the hypervisor command line
    qemu_arguments = []        # extra QEMU arguments
    expect_verdict = "pass"    # "pass" or "fail": what the hypervisor must report
    expect = ["regex", ...]    # each must match a console line, in this order
    forbid = ["regex", ...]    # none may match any console line
    [expect_count]             # regex = exact number of matching console lines
    trace_events = [...]       # QEMU trace events to record
    [expect_trace_count]       # regex = exact number of matching trace lines
    timeout_seconds = 60
    memory = "512M"            # guest RAM (QEMU -m)
    files = ["table.ivrs"]     # files beside the scenario; "{table.ivrs}" in qemu_arguments
                               # becomes the file's path
    dom0 = "pv_checks"         # a built guest (<build>/tests/guests/<name>.elf) or a path
                               # relative to the scenario; boot module 0
    dom0_cmdline = "tests=all" # dom0's command line (after " -- " under -kernel, the module
                               # string under iso)
    dom0_initrd = "file"       # boot module 1, relative to the scenario (iso only)

On failure the whole console log (and the QEMU command) is printed, and kept
in --log-directory.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent / "tools"))
import boot_qemu  # noqa: E402

KNOWN_KEYS = {
    "description", "boot", "vendor", "iommu_options", "command_line", "qemu_arguments", "expect_verdict",
    "expect", "forbid", "expect_count", "trace_events", "expect_trace_count", "timeout_seconds", "memory",
    "files", "dom0", "dom0_cmdline", "dom0_initrd", "cpu",
}


def resolve_dom0(name: str, guest_directory: Path, scenario_directory: Path) -> Path:
    """A bare name is a guest the build made (tests/guests/<name>.elf); anything else a path."""
    if "/" not in name and not name.endswith(".elf"):
        return guest_directory / f"{name}.elf"
    return scenario_directory / name


def check_in_order(lines: list[str], patterns: list[str], problems: list[str]) -> None:
    position = 0
    for pattern in patterns:
        expression = re.compile(pattern)
        for index in range(position, len(lines)):
            if expression.search(lines[index]):
                position = index + 1
                break
        else:
            earlier = any(expression.search(line) for line in lines[:position])
            where = " (it appears, but before an earlier expected line)" if earlier else ""
            problems.append(f"expected a console line matching /{pattern}/{where}")


def main() -> int:
    parser = argparse.ArgumentParser(description="Run one Sluice boot scenario")
    parser.add_argument("--image", type=Path, required=True,
                        help="the built sluice.elf; the built guests are in tests/guests/ beside it")
    parser.add_argument("--log-directory", type=Path, required=True)
    parser.add_argument("scenario", type=Path)
    arguments = parser.parse_args()

    scenario = tomllib.loads(arguments.scenario.read_text())
    unknown = set(scenario) - KNOWN_KEYS
    if unknown:
        print(f"{arguments.scenario}: unknown keys {sorted(unknown)}")
        return 1
    name = arguments.scenario.stem
    arguments.log_directory.mkdir(parents=True, exist_ok=True)
    console_log = arguments.log_directory / f"{name}.console.log"
    trace_log = arguments.log_directory / f"{name}.trace.log"
    if trace_log.exists():
        trace_log.unlink()

    extra = list(scenario.get("qemu_arguments", []))
    scenario_directory = arguments.scenario.parent
    # "files" names inputs beside the scenario (the ACPI tables tools/make-dmar and tools/make-ivrs made);
    # each must exist and be named in qemu_arguments as "{name}".
    for name in scenario.get("files", []):
        path = scenario_directory / name
        placeholder = "{" + name + "}"
        if not path.is_file():
            print(f"{arguments.scenario}: files: no such file {path}")
            return 1
        if not any(placeholder in argument for argument in extra):
            print(f"{arguments.scenario}: files: {name} is not used in qemu_arguments as {placeholder}")
            return 1
        extra = [argument.replace(placeholder, str(path)) for argument in extra]

    guest_directory = arguments.image.parent / "tests" / "guests"
    dom0 = resolve_dom0(scenario["dom0"], guest_directory, scenario_directory) if "dom0" in scenario else None
    dom0_initrd = scenario_directory / scenario["dom0_initrd"] if "dom0_initrd" in scenario else None
    if dom0 is None and ("dom0_cmdline" in scenario or dom0_initrd is not None):
        print(f"{arguments.scenario}: dom0_cmdline and dom0_initrd need a dom0 key")
        return 1
    request = boot_qemu.BootRequest(
        image=arguments.image,
        command_line=scenario.get("command_line", "console=com1"),
        vendor=scenario.get("vendor", "intel"),
        iommu_options=scenario.get("iommu_options", ""),
        use_iso=scenario.get("boot", "kernel") == "iso",
        memory=scenario.get("memory", "512M"),
        cpu=scenario.get("cpu", "max"),
        extra_arguments=extra,
        trace_events=scenario.get("trace_events", []),
        trace_file=trace_log,
        timeout_seconds=scenario.get("timeout_seconds", 60),
        dom0=dom0,
        dom0_command_line=scenario.get("dom0_cmdline", ""),
        dom0_initrd=dom0_initrd,
    )
    try:
        outcome = boot_qemu.boot(request)
    except boot_qemu.BootRequestError as problem:
        print(f"{arguments.scenario}: {problem}")
        return 1
    console_log.write_text(outcome.console)
    lines = outcome.console.splitlines()

    problems: list[str] = []
    expected_verdict = scenario.get("expect_verdict", "pass")
    if outcome.verdict != expected_verdict:
        problems.append(f"verdict {outcome.verdict} (QEMU status {outcome.status}), expected {expected_verdict}")
    check_in_order(lines, scenario.get("expect", []), problems)
    for pattern in scenario.get("forbid", []):
        expression = re.compile(pattern)
        for line in lines:
            if expression.search(line):
                problems.append(f"forbidden line matching /{pattern}/: {line!r}")
    for pattern, count in scenario.get("expect_count", {}).items():
        found = sum(1 for line in lines if re.search(pattern, line))
        if found != count:
            problems.append(f"{found} console lines match /{pattern}/, expected {count}")
    if scenario.get("expect_trace_count"):
        trace_lines = trace_log.read_text().splitlines() if trace_log.exists() else []
        for pattern, count in scenario["expect_trace_count"].items():
            found = sum(1 for line in trace_lines if re.search(pattern, line))
            if found != count:
                problems.append(f"{found} QEMU trace lines match /{pattern}/, expected {count}")

    print(f"scenario {name}: {scenario.get('description', '')}")
    print(f"  verdict {outcome.verdict} in {outcome.seconds:.2f} s")
    if problems:
        print("FAILED:")
        for problem in problems:
            print(f"  - {problem}")
        print("QEMU command: " + " ".join(outcome.command))
        print(f"---- console ({console_log}) ----")
        print(outcome.console)
        print("---- end of console ----")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
