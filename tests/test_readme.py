"""The README's Python example runs as printed (shortened to one epoch on 2,000 images)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_example() -> tuple[str, str]:
    """(the part that trains and intervenes, the part on attribute flips) of the README's block."""
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    trains, flips = code.split("from cfae.counterfactual.flip")
    return trains, "from cfae.counterfactual.flip" + flips


def test_readme_python_example_runs(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("CFAE_DATA", str(shared_data))
    monkeypatch.chdir(tmp_path)
    trains, flips = python_example()
    for printed, shortened in [('get_dataset("mnist", "train")', 'get_dataset("mnist", "train").head(2000)'),
                               ("TrainConfig(epochs=20)", "TrainConfig(epochs=1, progress=False)")]:
        assert printed in trains, f"the README no longer reads {printed}; update this test with it"
        trains = trains.replace(printed, shortened)
    names: dict = {}
    exec(compile(trains, str(README), "exec"), names)
    result, test = names["result"], names["test"]
    assert names["images"].shape == (16, *test.image_shape)
    assert result.counterfactuals.shape == (8, *test.image_shape)
    assert (result.codes_after[:, 0] == 0.0).all() and (result.codes_after[:, 1] == 2.5).all()
    assert (tmp_path / "runs" / "vae2").is_dir()
    # the flip lines need trained attribute models; their imports and signatures must hold
    imports = [line for line in flips.splitlines() if line.startswith("from ")]
    exec("\n".join(imports), names)
    assert callable(names["flip"]) and callable(names["MeanDifference"].fit)
