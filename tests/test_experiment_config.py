import pytest

from advrec.errors import ConfigError
from advrec.experiments.config import load_experiment
from advrec.experiments.pipeline import parse_assignments


def write(tmp_path, text):
    p = tmp_path / "exp.toml"
    p.write_text(text)
    return p


def test_valid_experiment(tmp_path):
    cfg = load_experiment(write(tmp_path, """
name = "x"
datasets = ["ml-100k-cfgan"]
seeds = [0, 1]
baseline = "pop"
[[models]]
name = "pop"
[[models]]
name = "itemknn"
label = "knn2"
tune = 3
"""))
    assert [m.key for m in cfg.models] == ["pop", "knn2"]
    assert cfg.models[1].tune == 3 and cfg.models[1].params == {}


def test_misspelt_top_level_key(tmp_path):
    with pytest.raises(ConfigError, match="seedz"):
        load_experiment(write(tmp_path, 'datasets=["a"]\nseedz=[1]\n[[models]]\nname="pop"\n'))


def test_misspelt_model_parameter(tmp_path):
    with pytest.raises(ConfigError, match="sed"):
        load_experiment(write(tmp_path, 'datasets=["a"]\n[[models]]\nname="pop"\nsed=1\n'))


def test_unknown_model(tmp_path):
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        load_experiment(write(tmp_path, 'datasets=["a"]\n[[models]]\nname="nope"\n'))


def test_duplicate_labels_and_bad_baseline(tmp_path):
    with pytest.raises(ConfigError, match="unique"):
        load_experiment(write(tmp_path, 'datasets=["a"]\n[[models]]\nname="pop"\n[[models]]\nname="pop"\n'))
    with pytest.raises(ConfigError, match="baseline 'ease'"):
        load_experiment(write(tmp_path, 'datasets=["a"]\nbaseline="ease"\n[[models]]\nname="pop"\n'))


def test_bad_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_experiment(write(tmp_path, "datasets = [\n"))
    with pytest.raises(ConfigError, match="not found"):
        load_experiment(tmp_path / "none.toml")


def test_parse_assignments():
    assert parse_assignments(["a=1", "b=0.5", "c=true", "d=text", "e=[1,2]"]) == {
        "a": 1, "b": 0.5, "c": True, "d": "text", "e": [1, 2],
    }
    with pytest.raises(ConfigError, match="key=value"):
        parse_assignments(["oops"])
