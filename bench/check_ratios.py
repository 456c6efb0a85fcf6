"""Check the in-run speed ratios of bench/ratios.toml against a pytest-benchmark JSON file.

usage: python bench/check_ratios.py RESULTS.json bench/ratios.toml
Prints every ratio with its medians; exits 1 if one is below its minimum or missing.
"""

import json
import sys
import tomllib


def main(results_path: str, ratios_path: str) -> int:
    with open(results_path) as fh:
        results = json.load(fh)
    with open(ratios_path, "rb") as fh:
        ratios = tomllib.load(fh).get("ratio", [])
    medians = {b["name"]: b["stats"]["median"] for b in results["benchmarks"]}

    def find(name: str):
        hits = [v for k, v in medians.items() if k == name or k.endswith(name)]
        return hits[0] if len(hits) == 1 else None

    bad = 0
    for r in ratios:
        fast, slow = find(r["fast"]), find(r["slow"])
        if fast is None or slow is None:
            print(f"MISSING  {r['slow']} / {r['fast']}: benchmark not in this run")
            bad += 1
            continue
        ratio = slow / fast
        ok = ratio >= r["min"]
        bad += not ok
        print(f"{'ok  ' if ok else 'FAIL'}     {r['slow']} / {r['fast']} = {ratio:.2f}x (min {r['min']}x; medians {slow * 1e3:.3f} ms / {fast * 1e3:.3f} ms)")
    print(f"{len(ratios) - bad} passed, {bad} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
