"""Switching gradient recording on and off: ``no_grad`` / ``enable_grad`` / ``set_grad_enabled``."""
import functools
import threading

class _State(threading.local):
    enabled = True  # per thread, like torch; the class attribute is every thread's default


_state = _State()


def is_grad_enabled():
    return _state.enabled


def _set(enabled):
    _state.enabled = bool(enabled)


class _GradMode:
    """Base for grad-mode switches usable as a context manager and as a decorator, with or
    without parentheses (``@no_grad()`` and ``@no_grad``, like torch 2)."""
    _mode = True

    def __new__(cls, *args, **kwargs):
        if len(args) == 1 and not kwargs and callable(args[0]):
            return cls()(args[0])
        return super().__new__(cls)

    def __enter__(self):
        self._prev = is_grad_enabled()
        _set(self._mode)
        return self

    def __exit__(self, *exc):
        _set(self._prev)
        return False

    def __call__(self, fn):
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = is_grad_enabled()
            _set(mode)
            try:
                return fn(*args, **kwargs)
            finally:
                _set(prev)
        return wrapper


class no_grad(_GradMode):
    """Operations inside record no graph (``with ember.no_grad():`` or ``@ember.no_grad()``)."""
    _mode = False


class enable_grad(_GradMode):
    """Turns recording back on inside a ``no_grad`` region."""
    _mode = True


class set_grad_enabled(_GradMode):
    """``set_grad_enabled(False)`` acts at once (like torch) and also works as a context manager."""

    def __init__(self, mode):
        self._prev = is_grad_enabled()
        self._mode = bool(mode)
        _set(self._mode)

    def __enter__(self):
        return self

    def __call__(self, fn):
        mode = self._mode
        _set(self._prev)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)
        return wrapper


class inference_mode(no_grad):
    """Alias of ``no_grad`` (Ember has no separate inference tensors)."""

    def __init__(self, mode=True):
        self._mode = not mode
