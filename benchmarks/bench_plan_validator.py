"""Plan validator speed: plans checked per second, valid and invalid, by domain and size.

For each domain and size, `--problems` problems are drawn and solved (A*); each gets four
plans: the optimal one (valid), the optimal one in plain English (valid), one whose steps are
rotated by one (invalid_action, usually at step 1), and one cut before its last action
(goal_not_reached). Timed per kind, best of `--repeat`:

- ``parse+validate``: `check_plan_text` (text -> verdict), what `verify_plan` does per record;
- ``validate``: `validate_plan` on already-parsed actions (the simulation alone);
- ``verify_plan step``: the step on a batch of records (problem dicts read per record).

Also the solver's time per problem (generation cost) and the whole process's wall time.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_plan_validator.py [--problems 50] [--repeat 3]
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import argparse  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402

from synthpipe.pipeline.step import StepContext  # noqa: E402
from synthpipe.tools.planning import (  # noqa: E402
    check_plan_text,
    get_domain,
    parse_plan,
    solve,
    validate_plan,
)
from synthpipe.verify.plan_check import VerifyPlan  # noqa: E402

SIZES = {"blocksworld": (4, 6, 8), "logistics": (2, 3, 4)}


def cases(domain_name: str, size: int, n: int, seed: int = 0):
    """(problem, {kind: plan text}) for n solvable problems; also the solver's seconds each."""
    domain, rng, out, solve_s = get_domain(domain_name), random.Random(seed), [], []
    while len(out) < n:
        problem = domain.random_problem(rng, size)
        t = time.perf_counter()
        solution = solve(problem, max_states=500_000)
        solve_s.append(time.perf_counter() - t)
        if not solution.plan or len(solution.plan) < 2:
            continue
        pddl = [a.pddl() for a in solution.plan]
        plans = {
            "valid (PDDL)": "\n".join(pddl),
            "valid (English)": "\n".join(
                f"{i}. {domain.describe_action(a)}" for i, a in enumerate(solution.plan, 1)
            ),
            "invalid_action": "\n".join(pddl[1:] + pddl[:1]),
            "goal_not_reached": "\n".join(pddl[:-1]),
        }
        out.append((problem, plans))
    return out, solve_s


def rate(fn, items, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for item in items:
            fn(*item)
        best = min(best, time.perf_counter() - t)
    return len(items) / best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print("| domain | size | optimal length (mean) | solve ms (median) | plan kind | "
          "parse+validate /s | validate /s | verify_plan step /s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for domain_name, sizes in SIZES.items():
        for size in sizes:
            items, solve_s = cases(domain_name, size, args.problems)
            mean_len = statistics.mean(len(p["valid (PDDL)"].splitlines()) for _, p in items)
            solve_ms = statistics.median(solve_s) * 1000
            for kind in items[0][1]:
                texts = [(problem, plans[kind]) for problem, plans in items]
                verdicts = {check_plan_text(p, t).verdict for p, t in texts}
                parsed = [(p, parse_plan(t, p)) for p, t in texts]
                rows = [{"problem": p.to_dict(), "candidate": t, "optimal_length": 1} for p, t in texts]
                step = VerifyPlan()

                def run_step(rows=rows, step=step):
                    batch = [dict(r) for r in rows]
                    step.process(batch, StepContext(name="verify"))

                step_rate = rate(run_step, [()], args.repeat) * len(rows)
                print(f"| {domain_name} | {size} | {mean_len:.1f} | {solve_ms:.1f} | {kind} "
                      f"({'/'.join(sorted(verdicts))}) | {rate(check_plan_text, texts, args.repeat):,.0f} | "
                      f"{rate(validate_plan, parsed, args.repeat):,.0f} | {step_rate:,.0f} |")  # fmt: skip
    print(f"\nwhole process: {time.perf_counter() - _T0:.1f} s")


if __name__ == "__main__":
    main()
