"""Dependencies a service object receives at start-up, after it was built from settings.

`create_app` builds each service object from settings alone (so FastStream sees its consumers),
and `startup` opens the pool, the relay or Redis and binds them. Until then, using one is a
wiring bug that must fail loudly rather than as `None` deep inside a handler:

```python
class TurnWriter:
    pool = BoundAtStartup[Pool]()
    relay = BoundAtStartup[OutboxRelay]()

    def bind(self, pool: Pool, relay: OutboxRelay) -> None:
        self.pool, self.relay = pool, relay
```
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")


class BoundAtStartup(Generic[T]):
    """An attribute that holds a dependency once start-up bound it, and raises before that."""

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self._name = name
        self._slot = f"_bound_{name}"

    @overload
    def __get__(self, instance: None, owner: type[Any] | None = None) -> BoundAtStartup[T]: ...

    @overload
    def __get__(self, instance: object, owner: type[Any] | None = None) -> T: ...

    def __get__(self, instance: object | None, owner: type[Any] | None = None) -> BoundAtStartup[T] | T:
        if instance is None:
            return self
        value: T | None = instance.__dict__.get(self._slot)
        if value is None:
            raise RuntimeError(f"{type(instance).__name__} used its {self._name} before start-up bound it")
        return value

    def __set__(self, instance: object, value: T) -> None:
        instance.__dict__[self._slot] = value

    def is_bound(self, instance: object) -> bool:
        """Whether start-up bound this dependency on `instance` yet."""
        return instance.__dict__.get(self._slot) is not None
