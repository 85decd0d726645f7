"""Small networks shared by the graph tests."""

import torch
from torch import nn
from torch.nn.utils import prune


def mnist_cnn():
    """input-32C5-MP2-32C5-MP2-256FC-10 (docs/method.md §1)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(512, 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, 10),
    )  # fmt: skip


def mlp(sizes=(20, 16, 12, 5)):
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(nn.Flatten(), *layers[:-1])


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(2, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.c3 = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        a = torch.relu(self.c1(x))
        b = self.bn(self.c2(a)).relu()
        c = self.c3(b) + a
        return self.fc(c.mean((2, 3)))


class Concat(nn.Module):
    def __init__(self):
        super().__init__()
        self.left = nn.Conv2d(2, 3, 3)
        self.right = nn.Conv2d(2, 4, 3)
        self.top = nn.Conv2d(10, 5, 3, padding=1, stride=2)
        self.fc = nn.Linear(5 * 3 * 3, 2)

    def forward(self, x):
        a = self.left(x)
        y = torch.cat([a, self.right(x), a], dim=1)
        y = torch.nn.functional.max_pool2d(self.top(y), 1)
        return self.fc(torch.flatten(y, 1))


def vgg_like():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.AdaptiveAvgPool2d((2, 2)),
        nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10),
    )  # fmt: skip


def prune_all(model, amount, seed=0):
    """Random unstructured pruning of every weighted layer."""
    torch.manual_seed(seed)
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            prune.random_unstructured(module, "weight", amount=amount)
    return model


def script(model: nn.Module) -> torch.jit.ScriptModule:
    """``torch.jit.script`` without its deprecation warning (torch 2.14)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.script(model)


def scriptable_pruned_cnn() -> nn.Module:
    """The MNIST CNN 70% pruned, masks folded into the weights (hooks cannot be scripted)."""
    model = prune_all(mnist_cnn(), 0.7)
    for module in model.modules():
        if hasattr(module, "weight_mask"):
            prune.remove(module, "weight")
    return model
