#!/usr/bin/env python3
"""Instructions per request from a callgrind output file, and where they are spent.

usage:
  callgrind_top.py CALLGRIND_OUT REQUESTS [TOP]

Prints the total instructions (Ir) divided by REQUESTS, then the TOP (default 40) functions
by their own instructions per request (self cost: what the function's own code executed, not
what it called). Reads the file directly: `callgrind_annotate` shows only the thread's entry
point (`clone`) for a Tokio worker here, so the costs are summed from the file's `fn=` and
cost lines. Name compression (`fn=(12) name`, later `fn=(12)`) is resolved; a cost line right
after `calls=` is the called function's inclusive cost and is not counted as self cost.
"""
import collections
import re
import sys

NAME = re.compile(r"\((\d+)\)(?:\s+(.*))?")


def self_costs(path: str) -> collections.Counter:
    names: dict = {}
    costs: collections.Counter = collections.Counter()
    current = None
    after_calls = False
    # Which field of a cost line is the first event (Ir): one per position column
    # (`positions: line`, or `instr line` with --dump-instr=yes) comes before it.
    ir_field = 1

    def resolve(token: str) -> str:
        m = NAME.match(token)
        if not m:
            return token
        if m.group(2):
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), m.group(1))

    with open(path, errors="replace") as lines:
        for line in lines:
            if line.startswith("positions:"):
                ir_field = len(line.split()) - 1
            elif line.startswith("fn="):
                current = resolve(line[3:].strip())
                after_calls = False
            elif line.startswith("cfn="):
                resolve(line[4:].strip())  # registers a compressed name for later fn= lines
            elif line.startswith("calls="):
                after_calls = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                fields = line.split()
                was_call = after_calls
                after_calls = False
                if len(fields) <= ir_field or current is None or was_call:
                    continue
                costs[current] += int(fields[ir_field])
    return costs


def main() -> None:
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    path, requests = sys.argv[1], int(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) == 4 else 40
    if requests <= 0:
        sys.exit("no requests were measured")
    costs = self_costs(path)
    total = sum(costs.values())
    print(f"instructions per request: {total / requests:,.0f} ({total:,} over {requests:,} requests)")
    print()
    print(f"{'Ir / request':>12}  {'share':>6}  function (own instructions)")
    for name, cost in costs.most_common(top):
        print(f"{cost / requests:12,.0f}  {cost / total:6.1%}  {name[:160]}")


if __name__ == "__main__":
    main()
