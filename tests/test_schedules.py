"""The promise on resume (docs/cli.md, "Resume"): a run resumed with more epochs keeps its schedules' shape, and past
their end the learning rates stay at their final values (and the console says which), for every
combination of run length, warm-up, schedule length and resumed length."""

import dataclasses
import itertools

import pytest

from sdpg_warp import train
from sdpg_warp.config import task_defaults
from sdpg_warp.distill import student_lr_at
from sdpg_warp.sdpg import actor_lr_at, critic_lr_at, schedule_length

EPOCHS = (1, 5, 50, 150)
WARMUPS = (0, 1, 49, 50, 100, 200)
SCHEDULES = (None, 30, 300)  # None: the run's own epochs
RESUMED = (1, 2, 40)  # the resumed run's epochs, as a multiple of the schedule's end


@pytest.mark.parametrize("epochs, warmup, schedule", list(itertools.product(EPOCHS, WARMUPS, SCHEDULES)))
def test_rates_past_the_schedule_stay_at_their_final_values(tmp_path, epochs, warmup, schedule):
    start = dataclasses.replace(task_defaults("ant", "state"), epochs=epochs, actor_warmup_epochs=warmup,
                                schedule_epochs=schedule, critic_lr_schedule="linear")
    saved = dataclasses.replace(start, schedule_epochs=start.schedule_epochs or start.epochs)  # as the CLI saves it
    (tmp_path / "config.json").write_text(saved.to_json())
    length = schedule_length(saved)
    for factor in RESUMED:
        total = max(epochs + 1, length * factor)
        cfg = train.resumed_config(dataclasses.replace(saved, epochs=total), str(tmp_path), {"epochs"})
        assert schedule_length(cfg) == length
        # The shape is kept: the resumed run's rates up to the end are the first run's.
        for e in range(min(length, total) + 1):
            assert actor_lr_at(e, cfg) == actor_lr_at(e, saved) and critic_lr_at(e, cfg) == critic_lr_at(e, saved)
        final = (actor_lr_at(length, cfg), critic_lr_at(length, cfg), student_lr_at(length, 1e-3, length))
        for e in range(length, total):
            assert (actor_lr_at(e, cfg), critic_lr_at(e, cfg), student_lr_at(e, 1e-3, length)) == final, e
        assert 0.0 <= final[0] <= cfg.actor_lr
        if warmup <= length:
            assert final[0] == cfg.actor_lr_min  # the cosine has ended
        if total > length and total > epochs:
            lines = train.resume_plan(saved, cfg, min(epochs, total))
            assert any(f"the actor lr stays at {final[0]:.3g} and the critic lr at {final[1]:.3g}" in line
                       for line in lines), lines


def test_warm_up_longer_than_the_run_holds_where_it_got_to():
    """The issue's case: 50 epochs with a 100-epoch warm-up, resumed to 2000 epochs."""
    cfg = dataclasses.replace(task_defaults("hopper", "state"), epochs=2000, schedule_epochs=50,
                              actor_warmup_epochs=100)
    assert actor_lr_at(49, cfg) == pytest.approx(cfg.actor_lr * 49 / 100)
    assert {actor_lr_at(e, cfg) for e in range(50, 2000)} == {actor_lr_at(50, cfg)}
    assert actor_lr_at(50, cfg) == pytest.approx(cfg.actor_lr * 50 / 100)
