"""The pretrained models in models/ reproduce their cards' errors on freshly generated data
(a seed none of them trained on), through the same solvers that made their training data."""

import re
from pathlib import Path

import pytest

from wno_edge.checkpoint import load_model
from wno_edge.data import PDEBench1dDataset, PDEBenchDataset, generate
from wno_edge.train import evaluate, rollout_error

MODELS = Path(__file__).resolve().parents[1] / "models"
CHECKPOINTS = sorted(MODELS.glob("*.pt"))
FRESH_SEED = 987654


@pytest.mark.parametrize("path", CHECKPOINTS, ids=[p.stem for p in CHECKPOINTS])
def test_pretrained_model_reproduces_its_card(path, tmp_path):
    model = load_model(path)
    meta = model.metadata
    card = path.with_suffix(".md").read_text()
    assert f"{meta['test_rel_l2']:.4f}" in card  # the card quotes the checkpoint's own figure
    assert re.search(r"wno-edge train .*--task " + meta["task"], card)  # and how to reproduce it
    # ... with the split it was trained on (checkpoints from before the option: the last 10 %)
    split = meta["options"].get("test_split", "last")
    for line in re.findall(r"wno-edge train .*", card):
        assert (f"--test-split {split}" in line) or (split == "first" and "--test-split" not in line), (split, line)

    h = model.config.resolution[0]  # square 2-D grids; the line's length for 1-D models
    one_d = len(model.config.resolution) == 1
    data = tmp_path / "fresh.h5"
    options = meta["options"]
    n = {"darcy": 40, "burgers": 20}.get(meta["task"], 4)
    generate(meta["task"], data, n_samples=n, resolution=h, seed=FRESH_SEED, progress=False)
    kwargs = (
        {}
        if meta["task"] == "darcy"
        else dict(initial_step=options["initial_step"], time_reduce=options["time_reduce"])
    )
    fresh = (PDEBench1dDataset if one_d else PDEBenchDataset)(data, "all", **kwargs)
    one_step = evaluate(model, fresh)
    assert one_step <= 1.3 * meta["test_rel_l2"] + 2e-3, (one_step, meta["test_rel_l2"])
    if meta["task"] == "darcy":
        assert one_step <= 0.03
    else:
        rollout = rollout_error(model, fresh, trajectories=n)
        assert rollout <= 1.5 * meta["rollout_rel_l2"] + 2e-3, (rollout, meta["rollout_rel_l2"])


def test_every_task_has_a_model():
    tasks = {load_model(p).metadata["task"] for p in CHECKPOINTS}
    assert tasks == {"darcy", "diffusion-reaction", "shallow-water", "burgers"}
