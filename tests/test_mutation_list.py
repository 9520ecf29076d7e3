"""benchmarks/mutation_check.py's list must match the code: each mutation's original text occurs
exactly once in its file, or the mutation breaks nothing (or the wrong place) when it runs."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_mutation_finds_its_original_text_exactly_once():
    spec = importlib.util.spec_from_file_location("mutation_check", ROOT / "benchmarks" / "mutation_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    counts = {name: (ROOT / "src" / "cfae" / relative).read_text().count(original)
              for name, (relative, original, broken) in module.MUTATIONS.items()}
    assert {name: n for name, n in counts.items() if n != 1} == {}
    assert all(original != broken for _, original, broken in module.MUTATIONS.values())
