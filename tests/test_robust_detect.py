"""Detection of fake profiles: features, PCA-VarSelect, the supervised detector's training data,
the defend-detect data stage and the detection evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from advrec.data import Interactions, Split
from advrec.errors import ConfigError
from advrec.experiments.data_stages import apply_stages, make_stage
from advrec.robust.attacks import ATTACKS, InjectRandom
from advrec.robust.detect import (
    RATING_FEATURES,
    SupervisedDetector,
    detection_metrics,
    flag_users,
    pca_varselect_scores,
    profile_features,
    training_attacks,
)


def skewed(n_users: int = 400, n_items: int = 200, seed: int = 0, implicit: bool = True) -> Interactions:
    """Long-tailed item popularity, log-normal user activity, 3 taste groups (like real data:
    the real users' structure dominates the leading principal components)."""
    rng = np.random.default_rng(seed)
    pop = 1.0 / (1 + np.arange(n_items)) ** 0.7
    act = rng.lognormal(0, 0.6, n_users)
    ug, ig = rng.integers(0, 3, n_users), rng.integers(0, 3, n_items)
    p = act[:, None] * pop[None, :] * np.where(ug[:, None] == ig[None, :], 3.0, 0.5)
    mask = rng.random(p.shape) < np.clip(p * 0.25 / p.mean(), 0, 0.95)
    u, i = np.nonzero(mask)
    v = np.ones(len(u)) if implicit else np.clip(np.rint(3 + (ug[u] == ig[i]) + rng.normal(0, 1, len(u))), 1, 5)
    return Interactions.from_records(u, i, v.astype(np.float32), user_ids=np.arange(n_users),
                                     item_ids=np.arange(n_items))


def as_split(inter: Interactions) -> Split:
    return Split(train=inter, test=inter.subset(np.zeros(len(inter), bool)), name="s")


def hand_made() -> Interactions:
    """4 real users who agree with the items' consensus, user 4 a push profile: item 0 (mean
    about 1) at 5 and fillers at their consensus."""
    users = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 4, 4, 4])
    items = np.array([0, 1, 2, 0, 1, 2, 0, 1, 3, 1, 3, 0, 1, 2])
    values = np.array([1, 4, 3, 1, 4, 3, 1, 5, 2, 4, 2, 5, 4, 3], np.float32)
    return Interactions.from_records(users, items, values, user_ids=np.arange(5), item_ids=np.arange(4))


def test_features_on_a_hand_made_push_profile():
    f = profile_features(hand_made(), neighbours=1)
    for col in RATING_FEATURES:
        assert f[col].idxmax() == 4  # the push profile deviates most from the items' means
    # item 0: ratings 1,1,1,5 -> mean 2, 4 raters; user 4 deviates 3/4 there, and on items 1
    # (mean 4.2, 5 raters) and 2 (mean 3, 3 raters) by 0.2/5 and 0
    assert f.loc[4, "wda"] == pytest.approx(3 / 4 + 0.2 / 5)
    assert f.loc[4, "rdma"] == pytest.approx((3 / 4 + 0.2 / 5) / 3)
    assert f.loc[4, "wdma"] == pytest.approx((3 / 16 + 0.2 / 25) / 3)
    n = np.array([3, 3, 3, 2, 3.0])
    assert f["length_var"].to_numpy() == pytest.approx(np.abs(n - n.mean()) / ((n - n.mean()) ** 2).sum())
    counts = np.array([4, 5, 3, 2.0])
    assert f.loc[3, "pop_mean"] == pytest.approx(counts[[1, 3]].mean())
    assert f.loc[3, "pop_var"] == pytest.approx(counts[[1, 3]].var())
    # users 0 and 1 have identical profiles: their nearest neighbour is each other (similarity 1)
    assert f.loc[0, "degsim"] == pytest.approx(1.0) and f.loc[1, "degsim"] == pytest.approx(1.0)


def test_implicit_data_gets_the_profile_features_only():
    inter = hand_made()
    f = profile_features(inter.with_values(np.ones(len(inter))))
    assert not set(RATING_FEATURES) & set(f.columns)
    assert f["length"].tolist() == [3, 3, 3, 2, 3]


@pytest.mark.parametrize("seed", [0, 1])
def test_pca_varselect_flags_injected_random_profiles(seed):
    data = skewed(seed=seed)
    _, (rec,) = apply_stages(as_split(data), [make_stage("p", "inject-random", {"fraction": 0.03})], seed)
    poisoned, _ = InjectRandom("p", {"fraction": 0.03}).apply(as_split(data), seed)
    fake = np.arange(data.n_users, poisoned.n_users)
    flagged = flag_users(-pca_varselect_scores(poisoned.train), n_flag=len(fake))
    m = detection_metrics(flagged, fake)
    # chance level is the fakes' share (3%); most flagged users are the fakes
    assert m["precision"] > 0.5 and rec["n_fake_users"] == len(fake)


def test_flag_rules_and_metrics_by_hand():
    scores = np.array([0.9, -np.inf, 0.2, 0.7, 0.4])
    assert flag_users(scores, n_flag=2).tolist() == [0, 3]
    assert flag_users(scores, fraction=0.5).tolist() == [0, 3]  # half of the 4 users with data
    assert flag_users(scores, threshold=0.4).tolist() == [0, 3, 4]
    with pytest.raises(ConfigError, match="exactly one"):
        flag_users(scores, n_flag=1, threshold=0.5)
    m = detection_metrics(np.array([0, 3, 4]), np.array([3, 4, 5, 6]))
    assert (m["precision"], m["recall"]) == pytest.approx((2 / 3, 2 / 4))
    assert m["f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert np.isnan(detection_metrics(np.array([], np.int64), np.array([1]))["precision"])


class InjectOther(InjectRandom):
    """A second attack kind, so the default training kinds can leave the tested one out."""

    kind = "inject-other"


def test_supervised_training_never_sees_the_tested_attack(monkeypatch):
    seen: list[tuple[str, int, int]] = []
    real_apply = InjectRandom.apply

    def spy(self, split, seed):
        seen.append((self.kind, seed, split.n_users))
        return real_apply(self, split, seed)

    monkeypatch.setattr(InjectRandom, "apply", spy)
    for kind in [k for k in ATTACKS if k != InjectRandom.kind]:  # two registered kinds: random and other
        monkeypatch.delitem(ATTACKS, kind)
    monkeypatch.setitem(ATTACKS, InjectOther.kind, InjectOther)
    assert [k for k, _ in training_attacks("inject-random", 4)] == ["inject-other"]
    assert all(s != 4 for _, s in training_attacks("inject-other", 4, ["inject-random", "inject-other"], 3))
    data = skewed(n_users=200, n_items=100)
    stages = [make_stage("poison", "inject-random", {"fraction": 0.05}),
              make_stage("defend", "defend-detect", {"detector": "supervised"})]
    _, records = apply_stages(as_split(data), stages, 4)
    test_call, *training_calls = seen
    assert test_call == ("inject-random", 4, data.n_users)
    assert training_calls and all(kind == "inject-other" for kind, _, _ in training_calls)
    # the training fakes are injected into the real users' data only (no tested fake in it)
    assert all(n == data.n_users for _, _, n in training_calls)
    assert [t["kind"] for t in records[1]["trained_on"]] == ["inject-other"]


def test_supervised_detector_needs_fitting_and_attacks():
    with pytest.raises(ConfigError, match="attacks is empty"):
        SupervisedDetector([])
    with pytest.raises(ConfigError, match="fit"):
        SupervisedDetector([("inject-random", 1)]).scores(hand_made())


@pytest.mark.parametrize("action", ["remove", "downweight"])
def test_defence_stage_changes_exactly_the_flagged_users_and_scores_them(action):
    data = skewed(n_users=200, n_items=100, implicit=False)
    stages = [make_stage("poison", "inject-random", {"fraction": 0.05}),
              make_stage("defend", "defend-detect", {"detector": "pca-varselect", "fraction": 0.05,
                                                     "action": action, "weight": 0.25})]
    poisoned, _ = apply_stages(as_split(data), stages[:1], 0)
    out, (_, rec) = apply_stages(as_split(data), stages, 0)
    before, after = poisoned.train, out.train
    flagged = np.flatnonzero(np.isin(before.user_ids, rec["flagged_user_ids"]))
    assert len(flagged) == rec["n_flagged"] == round(0.05 * len(before.active_users()))
    hit = np.isin(before.users, flagged)
    if action == "remove":
        assert not np.isin(after.users, flagged).any() and len(after) == (~hit).sum()
        assert after.checksum() == before.subset(~hit).checksum()
    else:
        np.testing.assert_array_equal(after.values, np.where(hit, before.values * 0.25, before.values))
    fake = np.arange(data.n_users, before.n_users)
    truth = detection_metrics(flagged, fake)
    assert rec["detection"]["precision"] == pytest.approx(truth["precision"])
    assert rec["detection"]["recall"] == pytest.approx(truth["recall"])
    assert rec["detection"]["f1"] == pytest.approx(truth["f1"])
    assert rec["attack"] == "poison" and rec["n_real_flagged"] == int((flagged < data.n_users).sum())


@pytest.mark.parametrize(("params", "message"), [
    ({"detector": "pca-varselect"}, "needs n_flag or fraction"),
    ({"detector": "pca-varselect", "threshold": 0.5}, "threshold is for the supervised"),
    ({"fraction": 0.1, "action": "drop"}, "action"),
])
def test_bad_defence_parameters_are_config_errors_naming_the_stage(params, message):
    with pytest.raises(ConfigError, match=message) as err:
        make_stage("defend", "defend-detect", params)
    assert "defend" in str(err.value)


def test_a_defence_naming_a_missing_attack_is_refused():
    stage = make_stage("defend", "defend-detect", {"fraction": 0.1, "attack": "nope"})
    with pytest.raises(ConfigError, match="attack='nope'"):
        apply_stages(as_split(hand_made()), [stage], 0)
