"""Differential privacy on the prompt update: client-side clipping through Flower's
``fixedclipping_mod``, seeded Gaussian noise through its ``DifferentialPrivacyClientSideFixedClipping``
wrapper, the privacy budget ε, the update norms clipping norms are chosen from, and the
accuracy-vs-noise sweep. Tiny random backbone."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fedtest import LANGS, RecordingGrid, run_recorded, smoke_config

from fedlib.config import get_profile
from fedlib.federated.client_app import build_client_app
from fedlib.federated.engines import quiet_flower
from fedlib.federated.runconfig import config_to_run_config
from fedlib.federated.server_app import federate
from fedlib.federated.strategies import SeededClientSideFixedClipping, make_strategy
from fedlib.model import get_bundle, model_spec, num_labels_of

CLIP = 1e-3  # well below the size of a round's prompt update on the smoke budget


def run(cfg, client_cfg=None):
    return run_recorded(cfg, client_cfg)


def initial(cfg) -> dict[str, np.ndarray]:
    state = get_bundle(model_spec(cfg, num_labels_of(cfg))).initial_state(cfg.seed)
    return {k: v.numpy() for k, v in state.items()}


def update_norm(arrays: dict, start: dict) -> float:
    return float(np.sqrt(sum(np.sum((np.asarray(arrays[k], dtype=np.float64) - start[k]) ** 2) for k in start)))


def test_dp_wraps_the_strategy_only_when_asked():
    assert not isinstance(make_strategy(smoke_config(), 2), SeededClientSideFixedClipping)
    for strategy in ("fedavg", "fedprox", "fedadam"):
        wrapped = make_strategy(smoke_config(strategy=strategy, dp_clipping_norm=0.5, dp_noise_multiplier=1.0), 2)
        assert isinstance(wrapped, SeededClientSideFixedClipping)
        assert (wrapped.clipping_norm, wrapped.noise_multiplier, wrapped.num_sampled_clients) == (0.5, 1.0, 2)


def train_replies(grid) -> list:
    return [r for r in grid.replies if r.content.array_records]


def sent_norm(reply, start) -> float:
    return update_norm({k: v.numpy() for k, v in reply.content["arrays"].items()}, start)


def test_clipping_bounds_every_update_and_the_aggregate():
    plain_grid, plain = run(smoke_config())
    start = initial(smoke_config())
    assert update_norm(plain["_final_arrays"], start) > 10 * CLIP, "clipping must bite for this test to mean much"
    for reply in train_replies(plain_grid):  # without DP the reported norm is the norm of what was sent
        reported = reply.content["metrics"]["update-norm"]
        assert isinstance(reported, float) and reported == pytest.approx(sent_norm(reply, start), rel=1e-5)

    cfg = smoke_config(dp_clipping_norm=CLIP)  # noise multiplier 0: clipping only
    grid, clipped = run(cfg)
    assert len(train_replies(grid)) == len(LANGS)
    for reply in train_replies(grid):  # what each client sent is within C of the global model
        assert sent_norm(reply, start) <= CLIP * (1 + 1e-4)
        # ... and the unclipped norm does not travel beside it (outside what the noise protects)
        assert "update-norm" not in reply.content["metrics"]
    assert update_norm(clipped["_final_arrays"], start) <= CLIP * (1 + 1e-4)


def test_clipping_norms_come_from_the_measured_update_norms():
    from fedlib.privacy import clipping_norms, update_norm_quantiles, update_norms

    cfg = smoke_config(rounds=2)
    grid, history = run(cfg)
    with pytest.raises(ValueError, match="no update norms"):
        update_norms({"rounds": [{"round": 1, "clients": {"a": {"lang": "x"}}}]})
    # The server's history keeps what each client reported, per round, under "update_norm".
    replies = train_replies(grid)
    assert len(replies) == 2 * len(LANGS)
    for i, reply in enumerate(replies):
        metrics = reply.content["metrics"]
        client = history["rounds"][i // len(LANGS)]["clients"][history["clients"][int(metrics["client-index"])]]
        assert client["update_norm"] == pytest.approx(metrics["update-norm"])
    norms = update_norms(history)
    assert len(norms) == 2 * len(LANGS) and (norms["update_norm"] > 0).all()
    first = sorted(norms.loc[norms["round"] == 1, "update_norm"])
    quantiles = update_norm_quantiles(history)
    assert quantiles[0.5] == pytest.approx(np.mean(first)) and first[0] < quantiles[0.25] < quantiles[0.75] < first[1]
    assert update_norm_quantiles(history, (0.0, 1.0), first_round=False) == {
        0.0: pytest.approx(norms["update_norm"].min()), 1.0: pytest.approx(norms["update_norm"].max())}
    chosen = clipping_norms({"history": history}, (1.0, 0.5, 0.25))  # an artifact works too
    assert chosen == [float(f"{f * quantiles[0.5]:.3g}") for f in (1.0, 0.5, 0.25)]
    assert chosen[0] > chosen[1] > chosen[2] > 0  # factors spread the norms even where the quartiles nearly meet
    assert clipping_norms(history, (1.0,), quantile=0.75) == [float(f"{quantiles[0.75]:.3g}")]
    with pytest.raises(ValueError, match="positive"):
        clipping_norms(history, (1.0, 0.0))


def test_epsilon_is_the_rdp_accountants():
    import dp_accounting

    from fedlib.privacy import epsilon

    def direct(z, rounds, delta):
        accountant = dp_accounting.rdp.RdpAccountant()
        accountant.compose(dp_accounting.GaussianDpEvent(z), rounds)
        return accountant.get_epsilon(delta)

    assert epsilon(1.1, 30, 10, delta=1e-5) == pytest.approx(direct(1.1, 30, 1e-5), rel=1e-9)
    assert epsilon(2.0, 5, 5) == pytest.approx(direct(2.0, 5, 1 / 5), rel=1e-9)  # δ = 1/clients
    assert epsilon(0.0, 5, 5) == math.inf and epsilon(1.0, 0, 5) == 0.0
    noisier = [epsilon(z, 10, 5) for z in (0.5, 1.0, 2.0, 4.0)]
    longer = [epsilon(1.0, r, 5) for r in (1, 5, 20, 80)]
    assert noisier == sorted(noisier, reverse=True) and len(set(noisier)) == 4
    assert longer == sorted(longer) and len(set(longer)) == 4
    assert epsilon(1.0, 10, 5, delta=1e-6) > epsilon(1.0, 10, 5)  # a stricter δ costs ε
    with pytest.raises(ValueError, match="noise_multiplier"):
        epsilon(-1.0, 3, 5)


def test_epsilon_is_refused_where_its_assumptions_fail():
    from fedlib.privacy import check_accountable, run_epsilon

    dp = dict(dp_clipping_norm=1.0, dp_noise_multiplier=1.0)
    check_accountable(smoke_config(**dp))  # equal budgets, FedAvg
    check_accountable(smoke_config(partition="iid", clients_per_language=3, **dp))  # 16 rows -> 3 x 5
    with pytest.raises(ValueError, match=r"(?s)FedAvg only.*\[12, 16\] training rows"):
        check_accountable(smoke_config(strategy="fedadam", **dp), train_sizes=[16, 12])
    with pytest.raises(ValueError, match="no differential privacy"):
        check_accountable(smoke_config())
    assert math.isnan(run_epsilon(smoke_config(), {"rounds": [{}]}))
    rounds = [{"round": r, "clients": {}} for r in (1, 2, 3)]
    assert run_epsilon(smoke_config(**dp), {"history": {"rounds": rounds, "failures": []}}) > 0
    failed = {"rounds": rounds, "failures": [{"round": 2, "stage": "train", "client": "hau_Latn"}]}
    with pytest.raises(ValueError, match="failed in training"):
        run_epsilon(smoke_config(**dp), failed)


def test_clipping_works_with_the_run_config_app_of_simulation_and_deployment():
    """`flwr run` engines use the ClientApp built without a config (it reads the run config)."""
    cfg = smoke_config(dp_clipping_norm=CLIP)
    grid = RecordingGrid(build_client_app(None), len(LANGS), config_to_run_config(cfg))
    with quiet_flower():
        history = federate(grid, cfg)
    start = initial(cfg)
    for reply in (r for r in grid.replies if r.content.array_records):
        assert update_norm({k: v.numpy() for k, v in reply.content["arrays"].items()}, start) <= CLIP * (1 + 1e-4)
    assert update_norm(history["_final_arrays"], start) <= CLIP * (1 + 1e-4)


def test_noise_changes_the_result_and_is_seeded():
    quiet = run(smoke_config(dp_clipping_norm=CLIP))[1]["_final_arrays"]
    noisy = run(smoke_config(dp_clipping_norm=CLIP, dp_noise_multiplier=2.0))[1]["_final_arrays"]
    again = run(smoke_config(dp_clipping_norm=CLIP, dp_noise_multiplier=2.0))[1]["_final_arrays"]
    other_seed = run(smoke_config(dp_clipping_norm=CLIP, dp_noise_multiplier=2.0, seed=1))[1]["_final_arrays"]
    for key in quiet:
        np.testing.assert_array_equal(noisy[key], again[key], err_msg=key)  # same seed, same noise
    assert any(not np.array_equal(quiet[k], noisy[k]) for k in quiet)
    assert any(not np.array_equal(noisy[k], other_seed[k]) for k in noisy)
    # The noise has Flower's standard deviation: noise_multiplier * C / number of clients.
    diff = np.concatenate([(noisy[k].astype(np.float64) - quiet[k]).ravel() for k in quiet])
    expected = 2.0 * CLIP / len(LANGS)
    assert diff.size > 500 and 0.8 * expected < diff.std() < 1.2 * expected


def test_seeded_noise_leaves_the_global_generator_alone():
    from fedlib.federated.strategies import noise_seed, seeded_numpy

    np.random.seed(5)
    expected = np.random.random(3)
    np.random.seed(5)
    with seeded_numpy(noise_seed(0, 1)):
        first = np.random.normal(size=4)
    np.testing.assert_array_equal(np.random.random(3), expected)
    with seeded_numpy(noise_seed(0, 1)):
        np.testing.assert_array_equal(np.random.normal(size=4), first)


def test_client_configured_for_dp_refuses_a_server_without_clipping():
    server_cfg = smoke_config()
    client_cfg = smoke_config(dp_clipping_norm=CLIP)
    with pytest.raises(RuntimeError, match="clipping_norm"):
        run(server_cfg, client_cfg=client_cfg)


@pytest.mark.parametrize("bad, message", [
    (dict(dp_noise_multiplier=1.0), "needs dp_clipping_norm"),
    (dict(dp_clipping_norm=0.0), "dp_clipping_norm must be > 0"),
    (dict(dp_clipping_norm=1.0, dp_noise_multiplier=-1.0), "dp_noise_multiplier must be >= 0"),
    (dict(dp_clipping_norm=1.0, paradigm="centralized"), "federated paradigms"),
])
def test_bad_dp_settings_fail_before_work(bad, message):
    with pytest.raises(ValueError, match=message):
        smoke_config(**bad)


def test_dp_sweep_returns_accuracy_per_noise_level(results_tmp):
    from fedlib.privacy import COLUMNS, dp_sweep

    table = dp_sweep("sib200", [0.0, 1.0], clipping_norm=CLIP, seeds=(0,), languages=LANGS,
                     profile=get_profile("smoke"),
                     rounds=1, num_threads=1, progress=False)
    assert list(table.columns) == list(COLUMNS)
    assert len(table) == 3  # the no-DP reference and two noise levels
    assert table["noise_multiplier"].isna().sum() == 1
    assert table.dropna(subset=["noise_multiplier"])["noise_multiplier"].tolist() == [0.0, 1.0]
    assert table["accuracy"].between(0, 1).all()
    assert table["noise_std"].tolist() == [0.0, 0.0, CLIP / len(LANGS)]
    from fedlib.privacy import epsilon

    nan_eps, inf_eps, eps = table["epsilon"]
    assert math.isnan(nan_eps) and inf_eps == math.inf
    assert eps == pytest.approx(epsilon(1.0, 1, len(LANGS)))  # δ = 1/2 over the one round run
    assert table["run_name"].is_unique
    with pytest.raises(ValueError, match="dp_noise_multiplier"):
        dp_sweep("sib200", [1.0, -1.0], clipping_norm=CLIP, seeds=(0,), languages=LANGS, profile=get_profile("smoke"))


def test_dp_numbers_read_the_reference_and_each_noise_level():
    import pandas as pd

    from fedlib.privacy import COLUMNS, dp_numbers

    nan = float("nan")
    inf = float("inf")
    sweep = pd.DataFrame([[nan, nan, 0.0, nan, 0, 0.80, 0.7, 3, "a"], [0.0, 1.0, 0.0, inf, 0, 0.50, 0.4, 3, "b"],
                          [0.01, 1.0, 0.002, 1e5, 0, 0.52, 0.4, 3, "c"], [0.1, 1.0, 0.02, 1e3, 0, 0.47, 0.4, 3, "d"]],
                         columns=list(COLUMNS))
    numbers = dp_numbers(sweep, (0.0, 0.001, 0.01, 0.1), 1.0)
    assert numbers["dp_reference"] == pytest.approx(80) and numbers["dp_clip_only"] == pytest.approx(50)
    assert numbers["dp_small"] == pytest.approx(52) and numbers["dp_large_z"] == 0.1
    assert numbers["dp_noise_effect"] == pytest.approx(3)  # the largest move away from clipping alone


def test_the_shown_sweep_names_the_reference_instead_of_leaving_it_empty():
    import pandas as pd

    from fedlib.privacy import COLUMNS, shown_sweep

    nan = float("nan")
    sweep = pd.DataFrame([[nan, nan, 0.0, nan, 0, 0.80, 0.7, 3, "a"], [0.0, 1.0, 0.0, math.inf, 0, 0.5, 0.4, 3, "b"],
                          [0.01, 1.0, 0.002, 1234.4, 0, 0.52, 0.4, 3, "c"]],
                         columns=list(COLUMNS))
    shown = shown_sweep(sweep)
    html = shown.to_html()
    assert "no DP" in html and "0.01" in html and "80.0" in html
    assert "nan" not in html.lower() and "inf" not in html.lower()
    assert list(shown.data["ε (δ = 1/clients)"]) == ["—", "∞", "1,234"]


def test_clipping_scales_shrink_each_update_to_the_clipping_norm():
    from fedlib.privacy import clipping_scales

    history = {"rounds": [{"round": r, "clients": {f"c{i}": {"lang": "x", "update_norm": n}
                                                   for i, n in enumerate(norms)}}
                          for r, norms in ((1, (4.0, 2.0)), (2, (1.0, 3.0)))]}
    scales = clipping_scales(history, (8.0, 2.0)).set_index(["round", "clipping_norm"])
    assert scales.loc[(1, 8.0), "scale"] == 1.0 and scales.loc[(2, 8.0), "scale"] == 1.0  # above every norm: no change
    assert scales.loc[(1, 2.0), "scale"] == pytest.approx((0.5 + 1.0) / 2)  # 4 -> 2 halves, 2 stays
    assert scales.loc[(2, 2.0), "scale"] == pytest.approx((1.0 + 2 / 3) / 2)
    assert scales.loc[(1, 2.0), "median_norm"] == 3.0 and scales.loc[(2, 8.0), "median_norm"] == 2.0
    with pytest.raises(ValueError, match="positive"):
        clipping_scales(history, (0.0,))
