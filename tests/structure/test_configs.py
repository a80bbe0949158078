"""Every command runs from a typed config: --help shows each option with its help, default and
choices; YAML first, flags override; values are validated once (NaN, inf, ranges) with the flag
named; the same concept has the same flag everywhere.

    pytest tests/structure/test_configs.py -q
"""
import argparse
import dataclasses
import math

import pytest

from edgecv.commands import COMMANDS, module_of
from edgecv.config import add_arguments, build, load, option, parse_floats, parse_size
from edgecv.errors import EdgecvError


def _parser(name):
    import importlib

    p = argparse.ArgumentParser(prog=f"edgecv {name}")
    importlib.import_module(module_of(name)).add_arguments(p)
    return p


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_option_of_every_command_has_help(name):
    for action in _parser(name)._actions:
        if action.dest != "help":
            assert action.help, f"edgecv {name} {action.option_strings or action.dest}: no help text"


def test_help_shows_defaults_and_choices():
    text = _parser("train").format_help()
    assert "(default: 10)" in text and "(default: adamw)" in text
    assert "{sgd,adam,adamw,rmsprop,adagrad}" in text
    assert "mirrors the image" in " ".join(text.split())       # what a flip does is said where it is set


@pytest.mark.parametrize("name,flags", [
    ("run", ["--imgsz", "--mean", "--std", "--classes", "--targets", "--task"]),
    ("eval", ["--imgsz", "--mean", "--std", "--classes", "--targets", "--task"]),
    ("train", ["--imgsz"]),
])
def test_one_flag_per_concept(name, flags):
    opts = {o for a in _parser(name)._actions for o in a.option_strings}
    assert set(flags) <= opts


@pytest.mark.parametrize("value,expected", [(224, 224), ("224", 224), ("160,120", (160, 120)),
                                            ("160x120", (160, 120)), ([96, 96], 96), ("160 120", (160, 120)),
                                            ("160, 120", (160, 120)), (" 64 ", 64)])
def test_imgsz_is_n_or_hw_everywhere(value, expected):
    assert parse_size(value) == expected


@pytest.mark.parametrize("bad", ["7", "0", "-32", "nan", "inf", "3.5", "a,b", "1,2,3", True, "64x", "64,", "x64",
                                 "", "99999"])
def test_bad_sizes(bad):
    from edgecv.commands.data import _size

    with pytest.raises(ValueError):
        parse_size(bad)
    if not isinstance(bad, bool):
        with pytest.raises(ValueError):     # data synth --size: the same numbers, read as WxH
            _size(bad)


def test_mean_std_one_syntax():
    p = parse_floats(3)
    assert p("0.5,0.4,0.3") == p("0.5 0.4 0.3") == p(["0.5", "0.4", "0.3"]) == p([0.5, 0.4, 0.3])
    for bad in ("0.5,0.4", "nan,0,0", "a,b,c"):
        with pytest.raises(ValueError):
            p(bad)


@dataclasses.dataclass
class Toy:
    n: int = option(1, "a count", low=1)
    rate: float = option(0.5, "a rate", low=0, lt=1)
    name: str = option("a", "a name", choices=("a", "b"))
    size: object = option(32, "a size", parse=parse_size)


@pytest.mark.parametrize("key,value,words", [
    ("n", "0", "--n 0: must be >= 1"), ("n", "2.5", "whole number"), ("rate", "nan", "finite"),
    ("rate", "inf", "finite"), ("rate", "1", "must be < 1"), ("rate", "-1e-9", ">= 0"),
    ("name", "c", "choose one of a, b"), ("size", "4", "--size 4"), ("bogus", 1, "unknown option(s) bogus"),
    ("n", [1], "must be an integer"), ("rate", "fast", "must be a number"),
])
def test_validation_names_the_flag(key, value, words):
    with pytest.raises(EdgecvError) as e:
        load(Toy, None, {key: value})
    assert words in str(e.value) and "\n" not in str(e.value)


def test_yaml_first_flags_override(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("n: 3\nrate: 0.25\nsize: [64, 48]\n")
    cfg = load(Toy, y, {"n": "5", "rate": None})
    assert (cfg.n, cfg.rate, cfg.size) == (5, 0.25, (64, 48))
    y.write_text("rate: .nan\n")
    with pytest.raises(EdgecvError, match="c.yaml: --rate nan: must be a finite number"):
        load(Toy, y)


def test_flags_are_generated_with_none_defaults():
    p = argparse.ArgumentParser()
    add_arguments(p, Toy)
    args = p.parse_args(["--n", "4"])
    assert args.n == "4" and args.rate is None and args.config is None


@pytest.mark.parametrize("cmd,argv", [
    ("train", ["--data", "d", "--weight-decay", "nan"]), ("train", ["--data", "d", "--rotation", "inf"]),
    ("train", ["--data", "d", "--brightness", "-1"]), ("train", ["--data", "d", "--grad-clip", "-0.1"]),
    ("train", ["--data", "d", "--warmup-epochs", "nan"]), ("train", ["--data", "d", "--backbone-lr-mult", "0"]),
    ("run", ["m.onnx", "--source", "x", "--smooth", "nan"]), ("run", ["m.onnx", "--source", "x", "--fps", "-1"]),
    ("export", ["m.pt", "--calib-size", "0"]), ("bench", ["m.pt", "--iters", "0"]),
    ("serve", ["--source", "x", "--port", "99999"]), ("serve", ["--source", "x", "--quality", "0"]),
    ("eval", ["m.pt", "--data", "d", "--batch", "nan"]),
])
def test_numbers_that_are_not_numbers_are_refused_with_the_flag(cmd, argv, capsys):
    from edgecv.cli import main

    rc = main([cmd, *argv])
    err = capsys.readouterr().err.strip()
    flag = next(a for a in argv if a.startswith("--") and a not in ("--data", "--source"))
    assert rc == 2 and flag in err and len(err.splitlines()) == 1, err


def test_the_resolved_config_travels_with_the_result(tmp_path, cls_run, cls_data):
    import json

    from edgecv.evaluation import evaluate

    res = evaluate(cls_run / "best.pt", cls_data, json=str(tmp_path / "e.json"), plots="none", log=lambda *a: None)
    saved = json.loads((tmp_path / "e.json").read_text())["config"]
    assert saved["model"] == str(cls_run / "best.pt") and saved["split"] == "test" and res["config"] == saved
    assert (cls_run / "config.yaml").is_file()


def test_build_roundtrips_a_saved_train_config(cls_run):
    import yaml

    from edgecv.training.config import TrainConfig

    d = yaml.safe_load((cls_run / "config.yaml").read_text())
    cfg = build(TrainConfig, d)
    assert cfg.to_dict() == d and math.isfinite(cfg.lr)
