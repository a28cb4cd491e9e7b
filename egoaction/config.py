"""Typed experiment configs: dataclasses, YAML files with at most one ``base:`` level, dotted ``--set`` overrides.

Every key is checked against the dataclass fields and their type hints, so a typo (``optim.lrr``) or a wrong type
(``trainer.max_epochs=ten``) fails at load time with the key, the expected type and the nearest valid key.
This is the one place where the config is turned into typed values; everything below the engine takes arguments.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


class ConfigError(ValueError):
    """A config file or override that does not match the schema; the message names the key."""


@dataclass
class AugmentConfig:
    """Training augmentation strengths (arguments of TrainTransform); 0 disables an op."""

    scales: list[float] = field(default_factory=lambda: [1.0, 0.875, 0.75, 0.66])
    flip_p: float = 0.5
    rotation: float = 15.0
    jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1)
    jitter_p: float = 0.8
    grayscale_p: float = 0.1
    erasing_p: float = 0.15


@dataclass
class DataConfig:
    """Which dataset and how clips are drawn from it (arguments of ClipDataModule)."""

    format: str = "epic100"
    root: str = "data/synth-epic100"
    reader_options: dict[str, Any] = field(default_factory=dict)
    train_split: str | None = None
    val_split: str | None = None
    modalities: list[str] = field(default_factory=lambda: ["rgb"])
    sampler: Literal["tsn", "dense", "linspace"] = "tsn"
    num_frames: int = 8
    frame_stride: int = 2
    flow_stacks: int = 1
    flow_stack_len: int = 5
    size: int | tuple[int, int] = 224  # S (square crops) or [height, width]
    resize: int = 256  # short side before cropping
    augment: bool = True
    augmentation: AugmentConfig = field(default_factory=AugmentConfig)
    batch_size: int = 8
    num_workers: int = 2
    max_bad_fraction: float = 0.05


@dataclass
class ModelConfig:
    """A registered model name and the keyword arguments of its factory."""

    name: str = "tsn_resnet18"
    kwargs: dict[str, Any] = field(default_factory=dict)
    # weights to start from (an egoaction checkpoint, a run directory or a plain state dict file), e.g. stage 1 of
    # a two-stage recipe; weights whose name and shape match are copied, the rest keep their initial values
    init_from: str | None = None


@dataclass
class LossConfig:
    """Cross-entropy per task head, summed with per-task weights."""

    label_smoothing: float = 0.0
    task_weights: dict[str, float] = field(default_factory=dict)


@dataclass
class OptimConfig:
    """Optimiser and its parameter groups (the backbone may get a smaller learning rate)."""

    name: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8  # Adam/AdamW (Ego-RNN and LSTA use 1e-4)
    weight_decay: float = 5e-4
    backbone_lr_factor: float = 1.0
    # parameter-name prefix -> lr multiplier (longest prefix wins), e.g. {"backbone.flow.layer4.": 0.01}
    lr_factors: dict[str, float] = field(default_factory=dict)


@dataclass
class ScheduleConfig:
    """Learning-rate schedule: linear warmup then cosine, MultiStepLR, StepLR or constant; stepped per step or epoch."""

    name: Literal["cosine", "multistep", "step", "constant"] = "cosine"
    warmup_epochs: float = 0.0
    milestones: list[int] = field(default_factory=list)
    step_size: int = 1  # "step": multiply by gamma every step_size epochs (Ego-RNN two-stream: 1 epoch, 0.99)
    gamma: float = 0.1
    min_lr_factor: float = 0.0
    interval: Literal["step", "epoch"] = "step"


@dataclass
class TrainerConfig:
    """The loop: epochs, precision, accumulation, clipping, early stopping, freezing, seeds, logging."""

    max_epochs: int = 10
    accelerator: str = "auto"
    devices: int | str = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    precision: Literal["auto", "32", "bf16", "16"] = "auto"
    channels_last: bool | None = None
    accumulate_grad_batches: int = 1
    gradient_clip_norm: float | None = None
    monitor: str = "val/top1"
    monitor_mode: Literal["max", "min"] = "max"
    early_stopping_patience: int | None = None
    freeze_stages: int = 0
    batchnorm: Literal["train", "frozen", "partial"] = "train"
    unfreeze_epoch: int | None = None
    seed: int = 0
    deterministic: bool = False
    log_every_n_steps: int = 10
    progress_bar: bool = True
    limit_train_batches: float | int = 1.0
    limit_val_batches: float | int = 1.0


@dataclass
class EvalConfig:
    """How `evaluate` scores a checkpoint: test views, the overfitting gap, EPIC subset files."""

    views: str = "1x1"
    gap: bool = True
    unseen_csv: str | None = None
    tail_verbs_csv: str | None = None
    tail_nouns_csv: str | None = None


@dataclass
class ExperimentConfig:
    """One experiment: where its run directory goes and every section above."""

    name: str = "experiment"
    output_dir: str = "runs"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


# Free-form mappings: their keys are checked elsewhere (model kwargs by the model factory, reader options by the
# reader).
_FREE_KEYS = {"data.reader_options", "model.kwargs", "loss.task_weights", "optim.lr_factors"}


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentConfig:
    """Read a YAML experiment (with its optional ``base:``), apply ``key.sub=value`` overrides, validate."""
    raw: dict[str, Any] = _read_with_base(Path(path)) if path is not None else {}
    for item in overrides:
        key, value = _parse_override(item)
        _set_dotted(raw, key, value)
    return from_dict(raw, source=str(path) if path else "defaults")


def from_dict(raw: dict[str, Any], *, source: str = "config") -> ExperimentConfig:
    """Build and type-check an ExperimentConfig from a nested mapping."""
    return typing.cast(ExperimentConfig, _build(ExperimentConfig, raw, prefix="", source=source))


def to_dict(cfg: ExperimentConfig) -> dict[str, Any]:
    """The config as plain YAML-able types (tuples become lists)."""
    return _plain(dataclasses.asdict(cfg))


def dump_yaml(cfg: ExperimentConfig) -> str:
    """The resolved config as YAML text."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level, got {type(data).__name__}")
    return data


def _read_with_base(path: Path) -> dict[str, Any]:
    data = _read_yaml(path)
    base = data.pop("base", None)
    if base is None:
        return data
    base_path = (path.parent / str(base)).resolve()
    parent = _read_yaml(base_path)
    if "base" in parent:
        raise ConfigError(f"{base_path}: a base config cannot have its own 'base:' (one level only, used by {path})")
    return _merge(parent, data)


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _parse_override(item: str) -> tuple[str, Any]:
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r}: expected KEY=VALUE, e.g. optim.lr=1e-4")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as err:
        raise ConfigError(f"override {item!r}: value is not valid YAML: {err}") from err
    return key.strip(), value


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    node = raw
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {key}: {part!r} is a value, not a section")
        node = child
    node[parts[-1]] = value


def _nearest(key: str, options: list[str]) -> str:
    match = difflib.get_close_matches(key, options, n=1, cutoff=0.5)
    return f"; did you mean {match[0]!r}?" if match else f"; valid keys: {', '.join(options)}"


def _build(cls: type, raw: Any, *, prefix: str, source: str) -> Any:
    where = prefix.rstrip(".") or "top level"
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {where} must be a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in raw:
        if key not in names:
            full = [prefix + n for n in names]
            raise ConfigError(f"{source}: unknown key {prefix + str(key)!r}{_nearest(prefix + str(key), full)}")
    kwargs = {}
    for key, value in raw.items():
        hint = hints[key]
        full_key = prefix + key
        if dataclasses.is_dataclass(hint):
            kwargs[key] = _build(typing.cast(type, hint), value, prefix=full_key + ".", source=source)
        elif full_key in _FREE_KEYS and value is None:
            kwargs[key] = {}
        else:
            kwargs[key] = _check(hint, value, full_key, source)
    return cls(**kwargs)


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) is None and hasattr(hint, "__name__"):
        return str(hint.__name__)
    return str(hint).replace("typing.", "")


def _check(hint: Any, value: Any, key: str, source: str) -> Any:  # noqa: C901 - one branch per supported type form
    """Return ``value`` converted to ``hint`` (int -> float, list -> tuple) or raise naming ``key``."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    bad = ConfigError(f"{source}: {key} = {value!r}: expected {_type_name(hint)}")
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        # an option of the value's own type wins, so `float | int` keeps 1 an int (Lightning reads 1 as one
        # batch but 1.0 as all of them)
        exact = [o for o in args if type(value) is o]
        for option in exact + [o for o in args if o not in exact]:
            try:
                return _check(option, value, key, source)
            except ConfigError:
                continue
        raise bad
    if origin is Literal:
        if value in args:
            return value
        if str(value) in args:
            return str(value)
        raise ConfigError(f"{source}: {key} = {value!r}: expected one of {', '.join(map(repr, args))}")
    if hint is type(None):
        if value is None:
            return None
        raise bad
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise bad
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                raise bad from None
        raise bad
    if hint is str:
        if isinstance(value, str):
            return value
        raise bad
    if origin is list:
        if not isinstance(value, list | tuple):
            raise bad
        return [_check(args[0], v, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, list | tuple) or len(value) != len(args):
            raise bad
        return tuple(_check(a, v, f"{key}[{i}]", source) for i, (a, v) in enumerate(zip(args, value)))
    if origin is dict:
        if not isinstance(value, dict):
            raise bad
        return {str(k): _check(args[1], v, f"{key}.{k}", source) for k, v in value.items()}
    raise ConfigError(f"{source}: {key}: unsupported type {hint!r}")
