"""A property computed on first read and kept on the instance, without functools.cached_property's lock, and the
hash a frozen dataclass keeps with it.

Until Python 3.12, ``functools.cached_property`` takes a lock on every first read (~1 us): a sweep reads a
dozen derived figures of each of its ~750 candidates' memory plans once each, and the lock alone cost
about 2% of it (benchmarks/sweep_speed.py).  The objects that use this are immutable, so two threads
that race on a first read compute the same value and either may keep it.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Callable, Generic, TypeVar, overload

T = TypeVar("T")


class lazy_property(Generic[T]):  # noqa: N801 - named as the decorator it replaces
    """Like ``functools.cached_property``: the value lands in the instance's ``__dict__``, which later reads
    find first (this is a non-data descriptor), so only the first read calls the function."""

    def __init__(self, func: Callable[[Any], T]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> lazy_property[T]: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> T: ...

    def __get__(self, instance: object, owner: type | None = None) -> T | lazy_property[T]:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.func(instance)
        return value


def fields_hash(instance: Any) -> int:
    """The hash a frozen dataclass computes from its compared fields on every call, for one that keeps it in a
    :class:`lazy_property` (its ``__hash__`` returns that): a key of caches every sweep candidate asks."""
    return hash(tuple(getattr(instance, f.name) for f in fields(instance) if f.compare))
