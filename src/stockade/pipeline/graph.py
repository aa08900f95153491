"""The job graph: unknown needs, cycles, and a stable topological order. Pure functions."""

from __future__ import annotations

import difflib

GraphProblem = tuple[tuple[str | int, ...], str, str]  # (field path, message, hint)


def graph_problems(needs: dict[str, list[str]]) -> list[GraphProblem]:
    """Every unknown, repeated or self need, and every cycle (named job by job)."""
    found: list[GraphProblem] = []
    for job, wanted in needs.items():
        seen: set[str] = set()
        for index, need in enumerate(wanted):
            path = ("jobs", job, "needs", index)
            if need == job:
                found.append((path, f"job {job!r} needs itself", "remove it from its own needs"))
            elif need not in needs:
                close = difflib.get_close_matches(need, list(needs), n=1)
                hint = f"did you mean {close[0]!r}?" if close else (
                    "jobs in this file: " + ", ".join(needs))
                found.append((path, f"unknown job {need!r}", hint))
            elif need in seen:
                found.append((path, f"{need!r} is listed twice", "list each job once"))
            seen.add(need)
    for cycle in _cycles(needs):
        first, second = cycle[0], cycle[1]
        index = needs[first].index(second)
        found.append((("jobs", first, "needs", index),
                      "jobs form a cycle: " + " → ".join([*cycle, first]),
                      f"remove one of these needs; {first!r} cannot start after itself"))
    return found


def _cycles(needs: dict[str, list[str]]) -> list[list[str]]:
    """One cycle per strongly connected group of jobs, each starting at its first job in file order.

    Self-needs are reported separately, so they are left out here.
    """
    edges = {job: [n for n in wanted if n in needs and n != job] for job, wanted in needs.items()}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles: list[list[str]] = []
    reported: set[str] = set()
    for start in needs:
        if state.get(start):
            continue
        # Iterative DFS: a hostile file cannot blow Python's recursion limit.
        path: list[str] = [start]
        iters = [iter(edges[start])]
        state[start] = 1
        while path:
            nxt = next(iters[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                iters.pop()
            elif state.get(nxt) == 1:
                cycle = path[path.index(nxt):]
                if not reported.intersection(cycle):
                    cycles.append(cycle)
                    reported.update(cycle)
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                iters.append(iter(edges[nxt]))
    return cycles


def topological_order(needs: dict[str, list[str]]) -> list[str]:
    """Jobs so that each comes after all it needs; among ready jobs, file order wins.

    Raises ValueError on a cycle or unknown need (a validated pipeline has neither).
    """
    placed: list[str] = []
    done: set[str] = set()
    remaining = list(needs)
    while remaining:
        for job in remaining:
            if all(n in done for n in needs[job]):
                placed.append(job)
                done.add(job)
                remaining.remove(job)
                break
        else:
            raise ValueError("jobs form a cycle or need unknown jobs: " + ", ".join(remaining))
    return placed
