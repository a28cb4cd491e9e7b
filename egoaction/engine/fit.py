"""`egoaction train`: config -> DataModule + model + LightningModule + Trainer -> a self-describing run directory."""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger

from egoaction.atomic import write_text_atomic
from egoaction.config import ConfigError, ExperimentConfig, dump_yaml, to_dict
from egoaction.data.dataset import ClipDataModule
from egoaction.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from egoaction.engine import precision
from egoaction.engine.callbacks import MetricsFile
from egoaction.engine.checkpoint import FORMAT_VERSION, AtomicCheckpointIO, code_version, init_from
from egoaction.engine.module import ActionModule
from egoaction.engine.optim import check_lr_factors


def datamodule(cfg: ExperimentConfig, **changes: Any) -> ClipDataModule:
    """The ClipDataModule the data section describes (``changes`` override its arguments, e.g. test views)."""
    d = cfg.data
    args: dict[str, Any] = dict(
        reader_options=d.reader_options,
        train_split=d.train_split,
        val_split=d.val_split,
        modalities=tuple(d.modalities),
        sampler=d.sampler,
        num_frames=d.num_frames,
        frame_stride=d.frame_stride,
        flow_stacks=d.flow_stacks,
        flow_stack_len=d.flow_stack_len,
        size=d.size,
        resize=d.resize,
        augment=d.augment,
        augmentation=dataclasses.asdict(d.augmentation),
        batch_size=d.batch_size,
        num_workers=d.num_workers,
        seed=cfg.trainer.seed,
        max_bad_fraction=d.max_bad_fraction,
    )
    args.update(changes)
    return ClipDataModule(d.format, d.root, **args)


def make_model(cfg: ExperimentConfig, task_spec: dict[str, int]) -> torch.nn.Module:
    """The registered model of the config; a bad model name or kwarg is a ConfigError naming the key."""
    from egoaction.models import create_model

    try:
        return create_model(cfg.model.name, task_spec, **cfg.model.kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"model: {err}") from err


def check_model_inputs(cfg: ExperimentConfig, model: torch.nn.Module) -> None:
    """ConfigError naming ``data.modalities`` when it lacks a modality the model reads or trains against."""
    needed = list(getattr(model, "modalities", ("rgb",))) + list(getattr(model, "target_modalities", ()))
    missing = [m for m in needed if m not in cfg.data.modalities]
    if missing:
        raise ConfigError(
            f"data.modalities: {cfg.model.name} needs {needed} but the data loads {list(cfg.data.modalities)} "
            f"(add {missing})"
        )


def precision_for(cfg: ExperimentConfig) -> str:
    """'auto' -> bf16-mixed where the device supports it (CPU with AVX512-BF16, Ampere+ GPUs), else fp16 with a
    scaler on GPUs and fp32 elsewhere."""
    choice = cfg.trainer.precision
    if choice != "auto":
        return {"32": "32-true", "bf16": "bf16-mixed", "16": "16-mixed"}[choice]
    if _uses_cuda(cfg):
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "bf16-mixed" if precision.cpu_bf16() else "32-true"


def _uses_cuda(cfg: ExperimentConfig) -> bool:
    return cfg.trainer.accelerator in ("gpu", "cuda") or (
        cfg.trainer.accelerator == "auto" and torch.cuda.is_available()
    )


def run_info(cfg: ExperimentConfig, dm: ClipDataModule, model: torch.nn.Module) -> dict[str, Any]:
    """What a checkpoint must carry to be used without the config or the dataset."""
    d = cfg.data
    return {
        "format_version": FORMAT_VERSION,
        "model": getattr(model, "spec", {"name": cfg.model.name, "kwargs": cfg.model.kwargs}),
        "task_spec": dm.task_spec,
        "classes": dm.classes,
        "data": {
            "format": d.format,
            "modalities": list(d.modalities),
            "sampler": d.sampler,
            "num_frames": d.num_frames,
            "frame_stride": d.frame_stride,
            "size": d.size,
            "resize": d.resize,
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
        },
        "config": to_dict(cfg),
        "code_version": code_version(),
    }


def run_directory(cfg: ExperimentConfig, *, resume: Path | None, overwrite: bool) -> Path:
    """``output_dir/name``; an existing run is never silently mixed with a new one."""
    if resume is not None:
        if not (resume / "checkpoints" / "last.ckpt").is_file():
            raise FileNotFoundError(f"cannot resume: {resume}/checkpoints/last.ckpt does not exist")
        return resume
    run_dir = Path(cfg.output_dir) / cfg.name
    if (run_dir / "checkpoints").exists() and not overwrite:
        raise FileExistsError(f"{run_dir} already holds a run; use --resume {run_dir}, another name, or --overwrite")
    if overwrite:
        for stale in ("checkpoints", "metrics.jsonl", "tensorboard", "eval", "report"):
            _remove(run_dir / stale)
    return run_dir


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def build_trainer(cfg: ExperimentConfig, run_dir: Path, extra_callbacks: list[L.Callback] | None = None) -> L.Trainer:
    """The Lightning Trainer: precision, accumulation, clipping, checkpoints, early stopping, loggers."""
    t = cfg.trainer
    folder = run_dir / "checkpoints"
    # Two callbacks: Lightning 2.6 writes save_last only in epochs where the monitored metric improved.
    best = ModelCheckpoint(
        dirpath=folder,
        filename="best",
        monitor=t.monitor,
        mode=t.monitor_mode,
        save_top_k=1,
        enable_version_counter=False,
        auto_insert_metric_name=False,
    )
    last = ModelCheckpoint(dirpath=folder, filename="last", save_top_k=1, enable_version_counter=False)
    callbacks: list[L.Callback] = [best, last, MetricsFile(run_dir / "metrics.jsonl", t.log_every_n_steps)]
    callbacks.append(LearningRateMonitor(logging_interval="step"))
    callbacks.extend(extra_callbacks or [])
    if t.early_stopping_patience is not None:
        callbacks.append(EarlyStopping(monitor=t.monitor, mode=t.monitor_mode, patience=t.early_stopping_patience))
    return L.Trainer(
        default_root_dir=run_dir,
        max_epochs=t.max_epochs,
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=t.strategy,
        precision=precision_for(cfg),  # type: ignore[arg-type]
        accumulate_grad_batches=t.accumulate_grad_batches,
        gradient_clip_val=t.gradient_clip_norm,
        gradient_clip_algorithm="norm",
        deterministic=t.deterministic,
        callbacks=callbacks,
        logger=TensorBoardLogger(save_dir=run_dir, name="tensorboard", version=""),
        log_every_n_steps=t.log_every_n_steps,
        enable_progress_bar=t.progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_train_batches=t.limit_train_batches,
        limit_val_batches=t.limit_val_batches,
        plugins=[AtomicCheckpointIO()],
    )


def train(
    cfg: ExperimentConfig,
    *,
    resume: str | Path | None = None,
    init_from_ckpt: str | Path | None = None,
    overwrite: bool = False,
    callbacks: list[L.Callback] | None = None,
) -> Path:
    """Train ``cfg`` into its run directory (or continue ``resume`` exactly); returns the run directory.

    ``callbacks`` are added to egoaction's own (checkpoints, metrics file, lr monitor, early stopping)."""
    resume_dir = Path(resume) if resume is not None else None
    run_dir = run_directory(cfg, resume=resume_dir, overwrite=overwrite)
    L.seed_everything(cfg.trainer.seed, workers=True, verbose=False)
    dm = datamodule(cfg)
    model = make_model(cfg, dm.task_spec)
    check_model_inputs(cfg, model)
    check_lr_factors(model, cfg.optim)
    init_from_ckpt = init_from_ckpt if init_from_ckpt is not None else cfg.model.init_from
    if init_from_ckpt is not None and resume_dir is None:
        left = init_from(model, init_from_ckpt)
        print(f"initialised from {init_from_ckpt}; {len(left)} tensors kept their initial values", file=sys.stderr)
    t = cfg.trainer
    channels_last = t.channels_last if t.channels_last is not None else getattr(model, "channels_last", True)
    module = ActionModule(
        model,
        info=run_info(cfg, dm, model),
        loss=cfg.loss,
        optim=cfg.optim,
        schedule=cfg.schedule,
        frozen_stages=t.freeze_stages,
        batchnorm=t.batchnorm,
        unfreeze_epoch=t.unfreeze_epoch,
        channels_last=bool(channels_last),
        seed=t.seed,
    )
    text = dump_yaml(cfg)
    print(f"egoaction: run directory {run_dir}\n--- resolved config ---\n{text}---", file=sys.stderr)
    write_text_atomic(run_dir / "config.yaml", text)
    trainer = build_trainer(cfg, run_dir, callbacks)
    ckpt_path = run_dir / "checkpoints" / "last.ckpt" if resume_dir is not None else None
    trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path)
    return run_dir
