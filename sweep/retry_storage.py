"""An Optuna storage whose every call goes through the launcher's retry policy (`sweep.retry`)."""
from __future__ import annotations

import abc
from typing import Any, Callable

import optuna

from sweep.optuna_adapter import BaseHeartbeat, storage_methods
from sweep.retry import RetryPolicy


class RetryingStorage(optuna.storages.BaseStorage, BaseHeartbeat):
    """An Optuna storage whose every call goes through `policy`; anything else is the wrapped storage's."""

    def __init__(self, storage: optuna.storages.BaseStorage, policy: RetryPolicy):
        self.storage, self.policy = storage, policy

    def __getattr__(self, name: str) -> Any:  # url, engine, ...: the wrapped storage's
        if name in ("storage", "policy"):
            raise AttributeError(name)
        return getattr(self.storage, name)

    def set_trial_state_values(self, trial_id: int, state, values=None) -> bool:
        tries = []

        def once() -> bool:
            tries.append(1)
            try:
                return self.storage.set_trial_state_values(trial_id, state=state, values=values)
            except optuna.exceptions.UpdateFinishedTrialError:
                # A retried `tell` whose first attempt was committed just before the connection dropped.
                if len(tries) > 1 and state.is_finished() and self.storage.get_trial(trial_id).state == state:
                    return True
                raise

        return self.policy.call(once)


def _forward(name: str) -> Callable[..., Any]:
    def method(self: RetryingStorage, *args: Any, **kwargs: Any) -> Any:
        return self.policy.call(getattr(self.storage, name), *args, **kwargs)

    method.__name__ = name
    return method


for _name in sorted(storage_methods() - set(vars(RetryingStorage))):
    setattr(RetryingStorage, _name, _forward(_name))
abc.update_abstractmethods(RetryingStorage)
