"""Parse speed: `argdown-lbl parse BIG --json` vs the reference `argdown json BIG OUT`.

Builds a >= 3 MB Argdown map from many renamed copies of a debate map (or takes
--file, e.g. a real map with errors), then runs both commands as whole processes
(start-up included), alternating, and prints the median wall times and their
ratio (ours / reference; < 1 means faster). With --file, both sides may report
errors (then neither writes JSON).

    python benchmarks/parse_speed.py [--mb 3.8] [--rounds 5]
    python benchmarks/parse_speed.py --file ../shared/upstream/argdown-realworld/files/kellenff__argdown-mcp__tests__fixtures__large.argdown
"""

from __future__ import annotations

import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import options
from options import ROOT

REFERENCE = ROOT / "tests" / "reference" / "node_modules" / ".bin" / "argdown"
OURS = Path(sys.executable).parent / "argdown-lbl"

# A debate map with every construct the parser must handle; {i} makes titles unique.
DEBATE = """# Speed limits {i} #traffic {{isGroup: true}}

[Lower limits {i}]: Urban speed limits should be lowered to 30 km/h.
    + <Fewer deaths {i}>: At lower speeds, collisions kill *far* fewer pedestrians.
        - <Compensation {i}>: Drivers compensate by paying **less** attention.
            - [Evidence {i}]: Field studies find no such effect. #empirical
    + <Noise {i}>: Slower traffic is quieter, see [WHO](https://who.int).
    - <Travel time {i}>: Journeys take longer for everyone.
        <_ <Negligible {i}>: Urban journeys are dominated by stops, not by top speed.
    - <Enforcement {i}>: Limits that nobody obeys erode respect for the law.

<Fewer deaths {i}>

(1) [Impact {i}]: The fatality risk of a pedestrian hit at 50 km/h is several times that at 30 km/h.
(2) Most urban collisions with pedestrians happen near the speed limit.
--
Modus ponens, Generalisation
{{uses: [1, 2], logic: ["inductive"]}}
--
(3) [Fewer fatalities {i}]: Lower limits reduce pedestrian deaths.
    +> [Lower limits {i}]
(4) Policies that reduce deaths at modest cost should be adopted.
----
(5) [Lower limits {i}]

<Travel time {i}>

(1) Lower limits increase travel time.
    - <Negligible {i}>
(2) Longer travel times impose economic costs.
----
(3) [Costs {i}]: Lower limits impose economic costs. // not quantified here
    -> [Lower limits {i}]

"""


def build(path: Path, megabytes: float) -> int:
    parts = ["===\ntitle: Benchmark map\n===\n\n"]
    size = 0
    i = 0
    while size < megabytes * 1_000_000:
        block = DEBATE.format(i=i)
        parts.append(block)
        size += len(block.encode("utf-8"))
        i += 1
    path.write_text("".join(parts).rstrip() + "\n", encoding="utf-8")
    return i


def timed(cmd: list[str], errors_expected: bool) -> tuple[float, float]:
    """-> (wall seconds, CPU seconds: user + system of the process and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if not errors_expected and (proc.returncode != 0 or "error" in proc.stderr.lower()):
        raise SystemExit(f"{cmd[0]} failed: {proc.stderr[-2000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = options.parser(__doc__)
    ap.add_argument("--mb", type=float, default=3.8)
    ap.add_argument("--file", type=Path, help="Time this file instead of a generated map (errors allowed).")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if not REFERENCE.exists() or shutil.which("node") is None:
        raise SystemExit("reference CLI missing: run `make reference` first")
    with tempfile.TemporaryDirectory() as tmp:
        if args.file:
            big = Path(tmp) / "big.argdown"
            shutil.copyfile(args.file, big)
            print(f"map: {args.file.name}, {big.stat().st_size / 1e6:.2f} MB")
        else:
            big = Path(tmp) / "big.argdown"
            copies = build(big, args.mb)
            print(f"map: {big.stat().st_size / 1e6:.2f} MB, {copies} copies of the debate map")
        ours, ref = [], []
        for r in range(args.rounds):
            # Alternate the order so that neither side always runs on a warm cache.
            pair = [("ours", [str(OURS), "parse", str(big), "--json"]),
                    ("ref", [str(REFERENCE), "json", str(big), str(Path(tmp) / "out")])]
            for name, cmd in (pair if r % 2 == 0 else pair[::-1]):
                (ours if name == "ours" else ref).append(timed(cmd, errors_expected=args.file is not None))
        o, f = statistics.median(w for w, _ in ours), statistics.median(w for w, _ in ref)
        print(f"argdown-lbl parse --json : median {o:.2f} s  ({', '.join(f'{w:.2f}' for w, _ in ours)})")
        print(f"argdown json (reference) : median {f:.2f} s  ({', '.join(f'{w:.2f}' for w, _ in ref)})")
        print(f"ratio ours/reference     : {o / f:.2f}x")
        # The reference runs on several cores (V8's helper threads), we on one; CPU time moves less
        # than wall time when the machine is shared.
        oc, fc = statistics.median(c for _, c in ours), statistics.median(c for _, c in ref)
        print(f"CPU time (user + system) : ours {oc:.2f} s, reference {fc:.2f} s, ratio {oc / fc:.2f}x")


if __name__ == "__main__":
    main()
