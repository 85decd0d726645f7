"""How long each training phase ran, and what ended it: the numbers reports give.

A profile with early stopping (``patience``, :class:`experiments.training.TrainingProfile`)
may end a phase before its epoch count; :func:`phase_epochs` reads a phase's training record
(:meth:`experiments.training.TrainResult.to_dict`, as ``metrics.json`` and the phase files
store it) and says how many epochs it ran of the most allowed, which epoch's weights it kept
and whether early stopping ended it.  :func:`training_summary` is the ``training`` block of a
report's ``metrics.json`` and :func:`phases_table` its table in ``report.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from experiments.training import TrainingError, TrainingProfile, TrainResult

__all__ = ["PhaseEpochs", "phase_epochs", "phases_table", "training_summary"]


@dataclass(frozen=True)
class PhaseEpochs:
    """How long one training phase ran, and what ended it (:func:`phase_epochs`).

    Attributes
    ----------
    phase : str
        The phase's name in the report (``"dense"``, ``"retrain"``, ``"a-dense"``...).
    epochs_run : int
        Epochs trained.
    max_epochs : int
        The profile's epochs for the phase (the most it may run).
    best_epoch : int
        Epoch of the best validation accuracy, counted from 0 as in the history records (the
        report counts from 1); its weights are the phase's result.
    best_val_accuracy : float
        That validation accuracy.
    patience : int or None
        The profile's early-stopping patience (``None``: no early stopping).
    stopped_early : bool
        ``True`` when the patience rule ended the phase before ``max_epochs``.
    """

    phase: str
    epochs_run: int
    max_epochs: int
    best_epoch: int
    best_val_accuracy: float
    patience: int | None
    stopped_early: bool

    @property
    def ended_by(self) -> str:
        """Why the phase ended, in words.

        Examples
        --------
        >>> PhaseEpochs("dense", 52, 200, 36, 0.98, 15, True).ended_by
        'early stopping: no better validation accuracy in 15 epochs'
        >>> PhaseEpochs("dense", 10, 10, 9, 0.98, None, False).ended_by
        'the epoch limit'
        """
        if self.stopped_early:
            return f"early stopping: no better validation accuracy in {self.patience} epochs"
        return "the epoch limit"

    def describe(self) -> str:
        """One line: epochs run of the maximum, the best epoch (from 1) and what ended the phase.

        Examples
        --------
        >>> print(PhaseEpochs("dense", 52, 200, 36, 0.98123, 15, True).describe())
        dense: 52 of up to 200 epochs, best validation accuracy 0.9812 at epoch 37, ended by early stopping: no better validation accuracy in 15 epochs
        """
        return (f"{self.phase}: {self.epochs_run} of up to {self.max_epochs} epochs, best validation accuracy "
                f"{self.best_val_accuracy:.4f} at epoch {self.best_epoch + 1}, ended by {self.ended_by}")

    def to_dict(self) -> dict:
        """JSON-ready dict (the fields)."""
        return asdict(self)


def phase_epochs(training: TrainResult | Mapping, profile: TrainingProfile, *, retrain: bool = False,
                 phase: str | None = None) -> PhaseEpochs:
    """Summarise one phase's training: epochs run of the profile's maximum, best epoch, early stop.

    Parameters
    ----------
    training : TrainResult or mapping
        The phase's result, or its :meth:`TrainResult.to_dict` as stored in ``metrics.json``
        and phase files (also those written before ``epochs_run`` was stored: the history's
        length is the epochs run).
    profile : TrainingProfile
        The profile the phase ran under; ``retrain`` picks ``retrain_epochs``.
    retrain : bool
        A retraining phase (after pruning).
    phase : str, optional
        The phase's name (default ``"retrain"`` or ``"dense"``).

    Returns
    -------
    PhaseEpochs

    Raises
    ------
    TrainingError
        ``training`` holds no history, or more epochs than the profile allows (it comes from
        another profile).

    Examples
    --------
    >>> from experiments.training import get_profile
    >>> profile = get_profile("paper", "mnist")
    >>> history = [{"epoch": e} for e in range(52)]
    >>> summary = phase_epochs({"best_epoch": 36, "best_val_accuracy": 0.98, "history": history}, profile)
    >>> summary.epochs_run, summary.max_epochs, summary.stopped_early
    (52, 200, True)
    """
    if isinstance(training, TrainResult):
        training = training.to_dict()
    name = phase if phase is not None else ("retrain" if retrain else "dense")
    history = training.get("history") if isinstance(training, Mapping) else None
    if not isinstance(history, (list, tuple)) or "best_epoch" not in training:
        raise TrainingError(f"the {name} phase's training record holds no history and best epoch; expected "
                            "TrainResult.to_dict()'s fields")
    run, best = len(history), int(training["best_epoch"])
    most = profile.retrain_epochs if retrain else profile.epochs
    if run > most:
        raise TrainingError(f"the {name} phase ran {run} epochs, more than the {most} of profile "
                            f"{profile.name!r}: the record comes from another profile")
    stopped = profile.patience is not None and run < most and run - 1 - best >= profile.patience
    return PhaseEpochs(name, run, most, best, float(training.get("best_val_accuracy", float("nan"))),
                       profile.patience, stopped)


def training_summary(profile: TrainingProfile, phases: Sequence[PhaseEpochs]) -> dict:
    """The ``training`` block of a report's ``metrics.json``: the profile, its hyperparameters
    and each phase's :class:`PhaseEpochs`.

    Examples
    --------
    >>> from experiments.training import get_profile
    >>> profile = get_profile("quick", "mnist")
    >>> block = training_summary(profile, [PhaseEpochs("dense", 10, 10, 9, 0.98, None, False)])
    >>> block["profile"], block["hyperparameters"]["optimizer"], block["phases"]["dense"]["epochs_run"]
    ('quick', 'adam', 10)
    """
    return {"profile": profile.name, "description": profile.describe(), "hyperparameters": asdict(profile),
            "phases": {p.phase: p.to_dict() for p in phases}}


def phases_table(phases: Sequence[PhaseEpochs]) -> str:
    """A markdown table of the phases: epochs run of the maximum, best epoch (from 1), what ended it.

    Examples
    --------
    >>> print(phases_table([PhaseEpochs("dense", 52, 200, 36, 0.98123, 15, True)]))
    | phase | epochs run | best epoch | best val. acc. | ended by |
    |---|---|---|---|---|
    | dense | 52 of up to 200 | 37 | 0.9812 | early stopping: no better validation accuracy in 15 epochs |
    """
    lines = ["| phase | epochs run | best epoch | best val. acc. | ended by |", "|---|---|---|---|---|"]
    lines += [f"| {p.phase} | {p.epochs_run} of up to {p.max_epochs} | {p.best_epoch + 1} | "
              f"{p.best_val_accuracy:.4f} | {p.ended_by} |" for p in phases]
    return "\n".join(lines)
