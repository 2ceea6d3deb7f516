"""A thread-local switch that changes what the code traced within it builds."""

import contextlib
import threading


class TraceSwitch:
    """Off unless inside :meth:`on`; nested uses keep it on until the outermost one exits.

    Thread-local, so a step traced in one thread (a replica of a
    ``tf.distribute`` strategy, say) is not changed by another thread's
    switch.
    """

    def __init__(self):
        self._state = threading.local()

    @contextlib.contextmanager
    def on(self, active=True):
        """Within it (when ``active``) the switch is on."""
        previous = self.is_on()
        self._state.on = previous or bool(active)
        try:
            yield
        finally:
            self._state.on = previous

    def is_on(self):
        """Whether the code running now is inside :meth:`on`."""
        return getattr(self._state, "on", False)
