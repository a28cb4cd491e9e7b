"""Configs: YAML with one base level, dotted overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from egoaction.config import ConfigError, dump_yaml, from_dict, load_config


def write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_base_is_merged_and_top_file_wins(tmp_path: Path) -> None:
    write(tmp_path / "base.yaml", {"optim": {"lr": 0.1, "name": "sgd"}, "data": {"size": 112}})
    top = write(tmp_path / "exp.yaml", {"base": "base.yaml", "optim": {"lr": 0.01}})
    cfg = load_config(top)
    assert cfg.optim.lr == 0.01 and cfg.optim.name == "sgd" and cfg.data.size == 112


def test_base_of_a_base_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "root.yaml", {})
    write(tmp_path / "base.yaml", {"base": "root.yaml"})
    top = write(tmp_path / "exp.yaml", {"base": "base.yaml"})
    with pytest.raises(ConfigError, match="one level only"):
        load_config(top)


def test_overrides_are_typed_yaml_values() -> None:
    cfg = load_config(None, ["optim.lr=1e-4", "schedule.milestones=[10, 20]", "trainer.gradient_clip_norm=20"])
    assert cfg.optim.lr == pytest.approx(1e-4)
    assert cfg.schedule.milestones == [10, 20]
    assert cfg.trainer.gradient_clip_norm == 20.0 and isinstance(cfg.trainer.gradient_clip_norm, float)
    assert load_config(None, ["data.size=[112, 196]"]).data.size == (112, 196)  # a non-square crop


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lrr=0.1", "unknown key 'optim.lrr'; did you mean 'optim.lr'"),
        ("trainer.max_epoch=3", "did you mean 'trainer.max_epochs'"),
        ("dataa.root=x", "did you mean 'data'"),
        ("trainer.max_epochs=ten", "trainer.max_epochs = 'ten': expected int"),
        ("optim.name=rmsprop", "expected one of 'sgd', 'adam', 'adamw'"),
        ("data.modalities=rgb", "data.modalities = 'rgb': expected list[str]"),
        ("data.size=[112, 196, 3]", "data.size = [112, 196, 3]: expected int | tuple[int, int]"),
        ("trainer.deterministic=maybe", "expected bool"),
        ("optim.lr", "expected KEY=VALUE"),
    ],
)
def test_bad_keys_and_types_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(None, [override])


def test_unknown_key_in_file_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "exp.yaml", {"trainer": {"precison": "bf16"}})
    with pytest.raises(
        ConfigError, match=r"exp.yaml: unknown key 'trainer.precison'; did you mean 'trainer.precision'"
    ):
        load_config(path)


def test_resolved_config_round_trips() -> None:
    cfg = load_config(None, ["model.kwargs={dropout: 0.2}", "optim.betas=[0.8, 0.99]", "data.size=[48, 84]"])
    again = from_dict(yaml.safe_load(dump_yaml(cfg)))
    assert again == cfg


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_int_or_float_fields_keep_the_type_given() -> None:
    cfg = load_config(None, ["trainer.limit_val_batches=1", "trainer.limit_train_batches=0.5"])
    assert cfg.trainer.limit_val_batches == 1 and type(cfg.trainer.limit_val_batches) is int
    assert cfg.trainer.limit_train_batches == 0.5
