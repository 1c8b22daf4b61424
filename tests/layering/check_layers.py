#!/usr/bin/env python3
"""The include rules of docs/architecture.md ("the dependencies point one way"), checked on every
source file: a file of a lower layer may not include a header of a higher one. Prints each
violation with its file and line, and exits 1 when there is any."""
import pathlib
import re
import sys

# (directory, prefixes its files must not include, why)
RULES = [
    ("mm/paging", ("drivers/", "common/domain", "arch/"), "the walker and the batch are format-neutral"),
    ("mm/p2m", ("drivers/", "common/domain", "arch/"), "the p2m knows nothing of IOMMUs or domains"),
    ("mm", ("common/domain", "arch/x86/pv"), "memory management sits below domains"),
    ("drivers/passthrough", ("common/domain", "arch/x86/pv", "arch/x86/mm"),
     "passthrough sits below the domain and the PV runtime"),
    ("drivers/passthrough/vtd", ("drivers/passthrough/amd",), "vendors do not know each other"),
    ("drivers/passthrough/amd", ("drivers/passthrough/vtd",), "vendors do not know each other"),
    ("arch/x86/mm", ("arch/x86/pv",), "page types sit below the PV runtime"),
]
# The set-up reaches vendors only through the registry (iommu_vendor.hpp).
NAMED = [("drivers/passthrough/iommu_setup.cpp", ("drivers/passthrough/vtd", "drivers/passthrough/amd"))]

INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]')


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    problems = []
    sources = [p for p in root.rglob("*")
               if p.suffix in (".hpp", ".cpp", ".S") and not p.relative_to(root).parts[0].startswith("build")]
    for path in sources:
        relative = path.relative_to(root).as_posix()
        applicable = [(forbidden, why) for d, forbidden, why in RULES if relative.startswith(d + "/")]
        applicable += [(forbidden, "the set-up names no vendor") for f, forbidden in NAMED if relative == f]
        if not applicable:
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            match = INCLUDE.match(line)
            if not match:
                continue
            included = match.group(1)
            for forbidden, why in applicable:
                if included.startswith(forbidden):
                    problems.append(f"{relative}:{number}: includes {included} ({why})")
    for problem in problems:
        print(problem)
    print(f"layering: {len(sources)} files, {len(problems)} violation(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
