"""The PackNet protocol of experiments.continual on a tiny task pair."""

from __future__ import annotations

import shutil

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook
from torch.utils.data import TensorDataset

import nn2graph
from experiments.continual import (
    HIDDEN_LAYERS,
    ContinualError,
    PackNetMLP,
    task_model,
    train_continual,
)
from experiments.data import DataSplits
from experiments.tasks import central_permutation, permuted_task
from experiments.training import TrainingProfile, evaluate
from nn2graph.run_folder import RunFolderError

PROFILE = TrainingProfile("tiny", "adam", lr=2e-3, retrain_lr=1e-3, batch_size=16, epochs=2, retrain_epochs=1)


def _tasks(n=48):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 28, 28, generator=g)
    y = (x[:, 0, 14, 14] > 0.5).long() + 2 * (x[:, 0, 3, 3] > 0.5).long()
    a = DataSplits(TensorDataset(x, y), TensorDataset(x[:16], y[:16]), TensorDataset(x[16:], y[16:]), "toy", "Toy.")
    return a, permuted_task(a, central_permutation(8, seed=0))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("continual")
    a, b = _tasks()
    grads = []

    def record(optimizer, args, kwargs):  # every optimizer step: the gradients it is about to use
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    grads.append((p, p.grad.detach().clone()))

    handle = register_optimizer_step_pre_hook(record)
    try:
        result = train_continual(a, b, PROFILE, out=out, seed=1, device="cpu", progress=False)
    finally:
        handle.remove()
    return out, a, b, result, grads


def test_exact_counts_and_disjoint_tasks(run):
    _, _, _, result, _ = run
    for name, (n_out, n_in) in {"fc1": (1024, 784), "fc2": (1024, 1024)}.items():
        n = n_out * n_in
        mask_a, mask_b = result.masks_a[name], result.masks_b[name]
        assert int(mask_a.sum()) == n - round(0.9 * n)
        free = n - int(mask_a.sum())
        assert int(mask_b.sum()) == free - round(0.8 * free)
        assert not (mask_a & mask_b).any()
        weight = getattr(result.model, name).weight
        assert torch.equal(weight != 0, mask_a | mask_b)  # A's never pruned; nothing else alive
    phases = result.phases
    assert phases["a-dense"].nonzero == {"fc1": 784 * 1024, "fc2": 1024 * 1024}
    assert phases["b-dense"].nonzero == phases["a-dense"].nonzero  # every free connection re-initialised
    assert phases["b-sparse"].nonzero == {k: int(result.masks_a[k].sum() + result.masks_b[k].sum())
                                          for k in HIDDEN_LAYERS}


def test_task_a_weights_bit_identical_after_task_b(run):
    out, a, _, result, _ = run
    after_a = torch.load(out / "a-sparse.pt", weights_only=True)["state"]
    final = result.model.state_dict()
    for name in HIDDEN_LAYERS:
        mask = result.masks_a[name]
        assert torch.equal(final[f"{name}.weight"][mask], after_a[f"{name}.weight"][mask])
        assert torch.equal(final[f"{name}.bias"], after_a[f"{name}.bias"])
        assert not torch.equal(final[f"{name}.weight"], after_a[f"{name}.weight"])  # B's were added
    for key in ("out_a.weight", "out_a.bias"):
        assert torch.equal(final[key], after_a[key])
    # so task A's accuracy with A's connections is unchanged
    model_a = task_model(result.model, result.masks_a, "a")
    reference = PackNetMLP()
    reference.load_state_dict(after_a)
    assert evaluate(model_a, a.test, device="cpu") == evaluate(reference, a.test, device="cpu")
    assert result.a_test_after_b == result.phases["a-sparse"].test_accuracy


def test_frozen_gradients_are_zero_while_training_b(run):
    _, _, _, result, grads = run
    shape = result.model.fc1.weight.shape
    fc1_steps = [g for _, g in grads if g.shape == shape]  # fc1 is the only 1024 x 784 parameter
    per_task = 3 * (PROFILE.epochs + PROFILE.retrain_epochs)  # 48 training examples, batches of 16
    assert len(fc1_steps) == 2 * per_task
    mask_a, mask_b = result.masks_a["fc1"], result.masks_b["fc1"]
    for g in fc1_steps[:per_task]:  # task A's phases train A's connections
        assert g[mask_a].ne(0).any()
    for g in fc1_steps[per_task:]:  # task B's phases: zero gradient on every frozen connection
        assert torch.count_nonzero(g[mask_a]) == 0 and g[mask_b].ne(0).any()


def test_rerun_reuses_phases_and_refuses_other_settings(run):
    out, a, b, result, _ = run
    again = train_continual(a, b, PROFILE, out=out, seed=1, device="cpu", progress=False)
    assert again.table1() == result.table1()
    for name in HIDDEN_LAYERS:
        assert torch.equal(again.model.state_dict()[f"{name}.weight"], result.model.state_dict()[f"{name}.weight"])
    with pytest.raises(RunFolderError, match=r"holds a run with other settings: s2 is 0.8 there, 0.5 here"):
        train_continual(a, b, PROFILE, out=out, seed=1, s2=0.5, device="cpu", progress=False)
    other_b = permuted_task(a, central_permutation(26, seed=0))
    with pytest.raises(RunFolderError, match=r"task_b is .* there, .* here\. Use another output folder"):
        train_continual(a, other_b, PROFILE, out=out, seed=1, device="cpu", progress=False)
    # a phase file of another run copied into a folder is refused too, naming what differs
    copy = out.parent / "copy"
    copy.mkdir()
    shutil.copy(out / "b-dense.pt", copy / "b-dense.pt")
    shutil.copy(out / "a-sparse.pt", copy / "a-sparse.pt")
    shutil.copy(out / "a-dense.pt", copy / "a-dense.pt")
    with pytest.raises(ContinualError, match=r"b-dense\.pt comes from another run \(s2 is 0.8 there, 0.5 here\)"):
        train_continual(a, b, PROFILE, out=copy, seed=1, s2=0.5, device="cpu", progress=False)


def test_snapshots_hold_each_tasks_connections(run):
    _, _, _, result, _ = run
    g0 = nn2graph.to_graph(result.snapshot(0), (784,))
    g1 = nn2graph.to_graph(result.snapshot(1), (784,))
    heads = 1024 * 10
    assert g0.graph.ecount() == sum(int(m.sum()) for m in result.masks_a.values()) + heads
    assert g1.graph.ecount() == g0.graph.ecount() + sum(int(m.sum()) for m in result.masks_b.values())
    assert g0.layers == g1.layers == ("input", "fc1", "fc2", "out")
    with pytest.raises(ContinualError, match="snapshot time must be 0"):
        result.snapshot(2)


def test_bad_settings():
    a, b = _tasks(8)
    with pytest.raises(ContinualError, match=r"s1 is the fraction .* must be in \(0, 1\), not 1.0"):
        train_continual(a, b, PROFILE, s1=1.0, device="cpu", progress=False)
    with pytest.raises(ContinualError, match="task must be one of a, b, not 'c'"):
        PackNetMLP().task = "c"


def test_initial_weights_follow_the_seed_and_task_b_draws_fresh_ones(tmp_path):
    """With a learning rate of 0 the phase files hold the initial weights: task A's are those of
    the seed (whatever torch's generator held before), task B's new connections are fresh draws
    (seed + 1), not task A's stream again."""
    still = TrainingProfile("still", "adam", lr=0.0, retrain_lr=0.0, batch_size=16, epochs=1, retrain_epochs=1)
    a, b = _tasks()
    torch.manual_seed(12345)  # a global state the run must not depend on
    train_continual(a, b, still, out=tmp_path, seed=3, device="cpu", progress=False)
    a_dense = torch.load(tmp_path / "a-dense.pt", weights_only=True)["state"]
    torch.manual_seed(3)
    expected = PackNetMLP().state_dict()
    for key, value in expected.items():
        assert torch.equal(a_dense[key], value), key
    b_dense = torch.load(tmp_path / "b-dense.pt", weights_only=True)
    free = ~b_dense["masks"]["a"]["fc1"]
    fresh = b_dense["state"]["fc1.weight"][free]

    def first_draw(seed):
        torch.manual_seed(seed)
        return torch.nn.init.xavier_uniform_(torch.empty(1024, 784))[free]

    assert torch.equal(fresh, first_draw(4))
    assert (fresh == first_draw(3)).sum() < 10  # not task A's stream again
    assert (fresh == a_dense["fc1.weight"][free]).sum() < 10
