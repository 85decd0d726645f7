"""Tests of experiments.training and experiments.training_summary: exact resume, best-validation
selection, early stopping, frozen weights, the paper profile."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from experiments.data import DataSplits
from experiments.models import build_model
from experiments.pruning import prune_layers
from experiments.training import (
    TrainingError,
    TrainingProfile,
    evaluate,
    get_profile,
    train,
)


def splits(n=120, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=g)
    y = (x[:, 0, :14].mean((1, 2)) > x[:, 0, 14:].mean((1, 2))).long()
    return DataSplits(TensorDataset(x[:80], y[:80]), TensorDataset(x[80:], y[80:]),
                      TensorDataset(x[80:], y[80:]), "toy", "")


class Interrupt(Exception):
    pass


def interrupt_after(epoch):
    def callback(record):
        if record.epoch == epoch:
            raise Interrupt
    return callback


@pytest.mark.parametrize("profile", [
    TrainingProfile("t", "adam", lr=3e-3, retrain_lr=1e-3, batch_size=32, epochs=4, retrain_epochs=3,
                    schedule="onecycle"),
    TrainingProfile("t", "sgd", lr=0.05, retrain_lr=0.05, batch_size=32, epochs=4, retrain_epochs=3,
                    momentum=0.9, nesterov=True),
])
def test_resume_is_bit_identical(tmp_path, profile):
    torch.manual_seed(0)
    reference = build_model("mlp")
    init = {k: v.clone() for k, v in reference.state_dict().items()}
    done = train(reference, splits(), profile, seed=5, device="cpu", progress=False,
                 checkpoint=tmp_path / "ref.pt")

    interrupted = build_model("mlp", weights=init)
    with pytest.raises(Interrupt):
        train(interrupted, splits(), profile, seed=5, device="cpu", progress=False,
              checkpoint=tmp_path / "ckpt.pt", callback=interrupt_after(1))
    resumed_model = build_model("mlp")  # different initial weights: all come from the checkpoint
    resumed = train(resumed_model, splits(), profile, seed=5, device="cpu", progress=False,
                    checkpoint=tmp_path / "ckpt.pt", resume=True)
    assert resumed.resumed_from_epoch == 2
    for key, value in reference.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[key]), key
    strip = [(r.epoch, r.train_loss, r.train_accuracy, r.val_accuracy, r.lr) for r in done.history]
    assert strip == [(r.epoch, r.train_loss, r.train_accuracy, r.val_accuracy, r.lr) for r in resumed.history]
    assert (resumed.best_epoch, resumed.best_val_accuracy) == (done.best_epoch, done.best_val_accuracy)


def test_different_seed_gives_different_run():
    profile = TrainingProfile("t", "adam", lr=3e-3, retrain_lr=1e-3, batch_size=32, epochs=1, retrain_epochs=1)
    states = []
    for seed in (1, 2):
        torch.manual_seed(0)
        model = build_model("mlp")
        train(model, splits(), profile, seed=seed, device="cpu", progress=False)
        states.append(model.fc1.weight.detach().clone())
    assert not torch.equal(*states)


def test_resume_of_pruned_model(tmp_path):
    profile = TrainingProfile("t", "adam", lr=3e-3, retrain_lr=1e-3, batch_size=32, epochs=1, retrain_epochs=3)

    def pruned():
        torch.manual_seed(0)
        model = build_model("cnn-mnist")
        prune_layers(model, {"conv2": 0.7, "fc3": 0.7})
        return model

    reference = pruned()
    train(reference, splits(), profile, retrain=True, device="cpu", progress=False)
    with pytest.raises(Interrupt):
        train(pruned(), splits(), profile, retrain=True, device="cpu", progress=False,
              checkpoint=tmp_path / "c.pt", callback=interrupt_after(0))
    resumed = pruned()
    train(resumed, splits(), profile, retrain=True, device="cpu", progress=False,
          checkpoint=tmp_path / "c.pt", resume=True)
    for key, value in reference.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


def test_checkpoint_of_another_run_is_refused(tmp_path):
    profile = TrainingProfile("t", "adam", lr=3e-3, retrain_lr=1e-3, batch_size=32, epochs=1, retrain_epochs=1)
    train(build_model("mlp"), splits(), profile, seed=1, device="cpu", progress=False, checkpoint=tmp_path / "c.pt")
    with pytest.raises(TrainingError, match=r"checkpoint .*c.pt belongs to another run.*drop --resume"):
        train(build_model("mlp"), splits(), profile, seed=2, device="cpu", progress=False,
              checkpoint=tmp_path / "c.pt", resume=True)


def test_keeps_best_validation_model():
    torch.manual_seed(0)
    profile = TrainingProfile("t", "sgd", lr=0.5, retrain_lr=0.5, batch_size=16, epochs=6, retrain_epochs=1)
    data = splits()
    model = build_model("mlp")
    result = train(model, data, profile, device="cpu", progress=False)
    vals = [r.val_accuracy for r in result.history]
    assert result.best_val_accuracy == max(vals)
    assert result.best_epoch == vals.index(max(vals))
    assert evaluate(model, data.val, device="cpu") == result.best_val_accuracy
    assert not model.training


def test_frozen_entries_stay_bit_identical():
    torch.manual_seed(0)
    model = build_model("mlp")
    g = torch.Generator().manual_seed(3)
    frozen = {"fc1.weight": torch.rand(1024, 784, generator=g) < 0.3,
              "out.bias": torch.tensor([True] * 5 + [False] * 5)}
    before = {k: dict(model.named_parameters())[k].detach().clone() for k in frozen}
    profile = TrainingProfile("t", "sgd", lr=0.1, retrain_lr=0.1, batch_size=32, epochs=2, retrain_epochs=1,
                              momentum=0.9, nesterov=True, weight_decay=1e-2)
    train(model, splits(), profile, device="cpu", progress=False, frozen=frozen)
    params = dict(model.named_parameters())
    for name, mask in frozen.items():
        assert torch.equal(params[name].detach()[mask], before[name][mask]), name
        assert not torch.equal(params[name].detach()[~mask], before[name][~mask]), name


def test_frozen_errors():
    profile = get_profile("quick", "mnist").with_epochs(1, 1)
    with pytest.raises(TrainingError, match="frozen names parameter 'fc9.weight', which the model lacks"):
        train(build_model("mlp"), splits(), profile, device="cpu", progress=False,
              frozen={"fc9.weight": torch.ones(1, dtype=torch.bool)})
    with pytest.raises(TrainingError, match=r"frozen mask of 'out.bias' has shape \(3,\)"):
        train(build_model("mlp"), splits(), profile, device="cpu", progress=False,
              frozen={"out.bias": torch.ones(3, dtype=torch.bool)})


def test_paper_profiles_follow_method():
    mnist = get_profile("paper", "mnist")
    assert (mnist.optimizer, mnist.lr, mnist.momentum, mnist.nesterov, mnist.batch_size, mnist.epochs) == \
        ("sgd", 0.01, 0.9, True, 500, 200)
    cifar = get_profile("paper", "cifar10")
    assert (cifar.optimizer, cifar.lr, cifar.lr_decay, cifar.epochs) == ("rmsprop", 1e-4, 1e-6, 100)
    quick = get_profile("quick", "mnist")
    assert quick.epochs < mnist.epochs
    with pytest.raises(TrainingError, match="epochs must be at least 1, not 0"):
        quick.with_epochs(0)


def test_keras_time_decay_schedule():
    profile = TrainingProfile("t", "rmsprop", lr=0.1, retrain_lr=0.1, batch_size=40, epochs=2,
                              retrain_epochs=1, lr_decay=0.5)
    result = train(nn.Sequential(nn.Flatten(), nn.Linear(784, 2)), splits(), profile, device="cpu",
                   progress=False)
    # 2 steps per epoch: after epoch 1 the step count is 2, after epoch 2 it is 4
    assert [r.lr for r in result.history] == pytest.approx([0.1 / (1 + 0.5 * 2), 0.1 / (1 + 0.5 * 4)])


def test_unknown_optimizer():
    profile = TrainingProfile("odd", "lbfgs", lr=0.1, retrain_lr=0.1, batch_size=8, epochs=1, retrain_epochs=1)
    with pytest.raises(TrainingError, match="unknown optimizer 'lbfgs' in profile 'odd'"):
        train(nn.Linear(2, 2), splits(), profile, device="cpu", progress=False)


def test_evaluate_against_manual_count():
    torch.manual_seed(0)
    model = build_model("mlp").eval()
    data = splits()
    x, y = data.val.tensors
    expected = (model(x).argmax(1) == y).float().mean().item()
    assert evaluate(model, data.val, batch_size=7, device="cpu") == pytest.approx(expected)


class Recorder(nn.Module):
    """A linear model whose training forwards record which examples they saw (x[:, 0] is the index)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(1, 2)
        self.seen = []

    def forward(self, x):
        if self.training:
            self.seen.append(x[:, 0].long().tolist())
        return self.fc(x)


def _orders(seed, epochs=3, n=40):
    x = torch.arange(n, dtype=torch.float32)[:, None]
    y = (x[:, 0] % 2).long()
    data = DataSplits(TensorDataset(x, y), TensorDataset(x[:4], y[:4]), TensorDataset(x[:4], y[:4]), "toy", "")
    profile = TrainingProfile("t", "sgd", lr=0.01, retrain_lr=0.01, batch_size=8, epochs=epochs, retrain_epochs=1)
    model = Recorder()
    train(model, data, profile, seed=seed, device="cpu", progress=False)
    per_epoch = n // 8
    return [sum(model.seen[e * per_epoch:(e + 1) * per_epoch], []) for e in range(epochs)]


def test_every_epoch_shows_every_example_once_in_a_new_order():
    orders = _orders(seed=4)
    for order in orders:
        assert sorted(order) == list(range(40))
    assert len({tuple(o) for o in orders}) == 3  # a new order every epoch
    assert _orders(seed=4) == orders  # a function of the seed ...
    assert _orders(seed=5)[0] != orders[0]  # ... and of nothing else


def test_resume_matches_parameters_by_name_not_position(tmp_path):
    """A model whose parameters come in another order (pruning made permanent re-registers the
    weight after the bias) resumes from a checkpoint of the other order, bit for bit."""
    from experiments.pruning import make_pruning_permanent

    profile = TrainingProfile("t", "adam", lr=3e-3, retrain_lr=1e-3, batch_size=32, epochs=3, retrain_epochs=1)

    def reordered():
        torch.manual_seed(0)
        model = build_model("mlp")
        prune_layers(model, {"fc1": 0.5})
        make_pruning_permanent(model)
        return model

    reference = reordered()
    assert [n for n, _ in reference.named_parameters()][:2] == ["fc1.bias", "fc1.weight"]
    train(reference, splits(), profile, seed=2, device="cpu", progress=False)
    with pytest.raises(Interrupt):
        train(reordered(), splits(), profile, seed=2, device="cpu", progress=False,
              checkpoint=tmp_path / "c.pt", callback=interrupt_after(0))
    plain_order = build_model("mlp")  # fc1.weight first, as a model loaded from a file has it
    resumed = train(plain_order, splits(), profile, seed=2, device="cpu", progress=False,
                    checkpoint=tmp_path / "c.pt", resume=True)
    assert resumed.resumed_from_epoch == 1
    for key, value in reference.state_dict().items():
        assert torch.equal(value, plain_order.state_dict()[key]), key
    saved = torch.load(tmp_path / "c.pt", weights_only=True)
    assert set(saved["optimizer"]["state"]) == {n for n, _ in reference.named_parameters()}


def test_checkpoints_that_are_not_plain_data_are_refused(tmp_path):
    import pickle

    marker = tmp_path / "marker"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (tmp_path / "c.pt").write_bytes(pickle.dumps({"identity": Payload()}))
    profile = TrainingProfile("t", "adam", lr=3e-3, retrain_lr=1e-3, batch_size=32, epochs=1, retrain_epochs=1)
    with pytest.raises(TrainingError, match=r"refused .*c.pt: not a training checkpoint that loads as plain data"):
        train(build_model("mlp"), splits(), profile, device="cpu", progress=False, checkpoint=tmp_path / "c.pt",
              resume=True)
    assert not marker.exists()
    (tmp_path / "c.pt").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(TrainingError, match="c.pt: it is truncated or not a torch file"):
        train(build_model("mlp"), splits(), profile, device="cpu", progress=False, checkpoint=tmp_path / "c.pt",
              resume=True)


def test_device_and_threads_errors():
    from experiments.training import resolve_device, set_threads

    if not torch.cuda.is_available():
        with pytest.raises(TrainingError, match="torch finds no CUDA GPU here: use --device cpu"):
            resolve_device("cuda")
    with pytest.raises(TrainingError, match="unknown device 'gpu'"):
        resolve_device("gpu")
    with pytest.raises(TrainingError, match="--threads must be a positive number of CPU threads, not -2"):
        set_threads(-2)


# --------------------------------------------------------------------------------------------
# the paper profile and early stopping


def test_paper_profile_is_the_papers_recipe():
    from experiments.training import PAPER_PATIENCE

    p = get_profile("paper", "mnist")
    assert (p.name, p.optimizer, p.lr, p.retrain_lr, p.momentum, p.nesterov, p.batch_size) == \
        ("paper", "sgd", 0.01, 0.01, 0.9, True, 500)
    assert (p.epochs, p.retrain_epochs, p.patience, PAPER_PATIENCE) == (200, 200, 15, 15)
    assert (p.schedule, p.lr_decay, p.weight_decay) == ("constant", 0.0, 0.0)
    assert get_profile("quick", "mnist").patience is None
    # the optimizer train() builds from it
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 2))
    seen = {}

    def record(optimizer, *args, **kwargs):
        seen.update(type=type(optimizer).__name__, **{k: optimizer.param_groups[0][k]
                                                       for k in ("lr", "momentum", "nesterov", "weight_decay")})
        raise Interrupt

    from torch.optim.optimizer import register_optimizer_step_pre_hook

    handle = register_optimizer_step_pre_hook(record)
    try:
        with pytest.raises(Interrupt):
            train(model, splits(), p.with_epochs(1), device="cpu", progress=False)
    finally:
        handle.remove()
    assert seen == {"type": "SGD", "lr": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 0.0}


def _dropouts(model, x):
    """(input width, p) of every dropout module in the order the forward pass uses them."""
    used = []
    hooks = [m.register_forward_hook(lambda m, args, out: used.append((args[0].shape[1], m.p)))
             for m in model.modules() if isinstance(m, nn.Dropout)]
    model.train()(x)
    for h in hooks:
        h.remove()
    return used


def test_models_dropout_follows_the_paper():
    x = torch.rand(3, 1, 28, 28)
    # MLP: 0.2 on the 784 input pixels, 0.5 after each 1024-unit hidden layer
    mlp = build_model("mlp")
    assert _dropouts(mlp, x) == [(784, 0.2), (1024, 0.5), (1024, 0.5)]
    order = [name for name, m in mlp.named_children()]
    assert order.index("drop1") == order.index("relu1") + 1 and order.index("drop2") == order.index("relu2") + 1
    # MNIST CNN: 0.5 before each fully connected layer (the 512 flattened features, the 256 hidden units)
    assert _dropouts(build_model("cnn-mnist"), x) == [(512, 0.5), (256, 0.5)]


def _plateau_data():
    g = torch.Generator().manual_seed(0)
    x, xv = torch.randn(64, 2, generator=g), torch.randn(32, 2, generator=g)
    label = lambda t: (t[:, 0] + 0.3 * t[:, 1] > 0).long()  # noqa: E731
    return DataSplits(TensorDataset(x, label(x)), TensorDataset(xv, label(xv)), TensorDataset(xv, label(xv)),
                      "toy", "")


PLATEAU = TrainingProfile("t", "sgd", lr=0.1, retrain_lr=0.1, batch_size=16, epochs=30, retrain_epochs=1,
                          momentum=0.5, patience=4)


def _linear():
    torch.manual_seed(0)
    return nn.Linear(2, 2)


def test_early_stopping_ends_a_plateau_and_keeps_the_best_weights():
    from experiments.training_summary import phase_epochs

    model = _linear()
    result = train(model, _plateau_data(), PLATEAU, seed=3, device="cpu", progress=False)
    vals = [r.val_accuracy for r in result.history]
    best = result.best_epoch
    # stopped after exactly `patience` epochs without a better validation accuracy
    assert result.epochs_run == best + 1 + PLATEAU.patience < PLATEAU.epochs
    assert vals[best] == max(vals) == result.best_val_accuracy and vals.index(max(vals)) == best
    assert all(v <= vals[best] for v in vals[best + 1:])
    # the kept weights are those after the best epoch: a run of best + 1 epochs without
    # early stopping ends with them (the data order and dropout of an epoch depend on (seed, epoch))
    shorter = _linear()
    train(shorter, _plateau_data(), dataclasses.replace(PLATEAU, epochs=best + 1, patience=None), seed=3,
          device="cpu", progress=False)
    for key, value in shorter.state_dict().items():
        assert torch.equal(value, model.state_dict()[key]), key
    summary = phase_epochs(result, PLATEAU)
    assert (summary.epochs_run, summary.max_epochs, summary.best_epoch, summary.stopped_early) == \
        (best + 1 + 4, 30, best, True)
    assert summary.ended_by == "early stopping: no better validation accuracy in 4 epochs"
    # without patience the same run goes on to the epoch limit
    full = train(_linear(), _plateau_data(), dataclasses.replace(PLATEAU, patience=None), seed=3, device="cpu",
                 progress=False)
    assert full.epochs_run == 30 and not phase_epochs(full, dataclasses.replace(PLATEAU, patience=None)).stopped_early


@pytest.mark.parametrize("kill_after", ["before the stop", "at the stop"])
def test_resume_around_the_early_stop_gives_the_same_result(tmp_path, kill_after):
    reference_model = _linear()
    reference = train(reference_model, _plateau_data(), PLATEAU, seed=3, device="cpu", progress=False)
    last = reference.epochs_run - 1  # the epoch after which the rule ends the phase
    kill = last - 2 if kill_after == "before the stop" else last
    with pytest.raises(Interrupt):
        train(_linear(), _plateau_data(), PLATEAU, seed=3, device="cpu", progress=False,
              checkpoint=tmp_path / "c.pt", callback=interrupt_after(kill))
    trained = []
    resumed_model = nn.Linear(2, 2)  # other weights: everything comes from the checkpoint
    resumed = train(resumed_model, _plateau_data(), PLATEAU, seed=3, device="cpu", progress=False,
                    checkpoint=tmp_path / "c.pt", resume=True, callback=trained.append)
    # resume never trains past the stop: only the epochs up to it, none after a kill at the stop
    assert [r.epoch for r in trained] == list(range(kill + 1, last + 1))
    assert resumed.resumed_from_epoch == kill + 1
    assert (resumed.epochs_run, resumed.best_epoch, resumed.best_val_accuracy) == \
        (reference.epochs_run, reference.best_epoch, reference.best_val_accuracy)
    assert [r.val_accuracy for r in resumed.history] == [r.val_accuracy for r in reference.history]
    for key, value in reference_model.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[key]), key
    # and once more: the finished checkpoint resumes to the same result without training
    again = train(nn.Linear(2, 2), _plateau_data(), PLATEAU, seed=3, device="cpu", progress=False,
                  checkpoint=tmp_path / "c.pt", resume=True, callback=trained.append)
    assert again.epochs_run == reference.epochs_run and len(trained) == last - kill


def test_phase_epochs_of_stored_records():
    from experiments.training_summary import PhaseEpochs, phase_epochs, phases_table

    paper = get_profile("paper", "mnist")
    record = {"best_epoch": 4, "best_val_accuracy": 0.97, "history": [{"epoch": e} for e in range(20)]}
    # a record written before epochs_run was stored: its history's length counts
    assert phase_epochs(record, paper, retrain=True) == PhaseEpochs("retrain", 20, 200, 4, 0.97, 15, True)
    # fewer than patience epochs after the best: not ended by early stopping (e.g. --epochs 20)
    late = {**record, "best_epoch": 10}
    assert not phase_epochs(late, paper.with_epochs(20)).stopped_early
    assert phase_epochs(late, paper.with_epochs(20)).ended_by == "the epoch limit"
    table = phases_table([phase_epochs(record, paper, phase="a-dense")])
    assert "| a-dense | 20 of up to 200 | 5 | 0.9700 | early stopping: no better validation accuracy in 15 epochs |" \
        in table
    with pytest.raises(TrainingError, match="ran 20 epochs, more than the 10 of profile 'paper'"):
        phase_epochs(record, paper.with_epochs(10))
    with pytest.raises(TrainingError, match="the dense phase's training record holds no history"):
        phase_epochs({"best_epoch": 1}, paper)
