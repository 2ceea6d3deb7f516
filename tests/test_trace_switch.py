"""TraceSwitch: on only inside ``on()``, nested uses keep it on, and each thread has its own."""

import threading

from libspn_keras.trace_switch import TraceSwitch


def test_on_only_within_and_nested_uses_keep_it_on():
    switch = TraceSwitch()
    assert not switch.is_on()
    with switch.on():
        assert switch.is_on()
        with switch.on(False):  # an inner inactive use does not turn it off
            assert switch.is_on()
        assert switch.is_on()
    assert not switch.is_on()
    with switch.on(active=False):
        assert not switch.is_on()


def test_restored_after_an_exception():
    switch = TraceSwitch()
    try:
        with switch.on():
            raise RuntimeError("inside")
    except RuntimeError:
        pass
    assert not switch.is_on()


def test_each_thread_has_its_own_state():
    switch = TraceSwitch()
    seen = []
    with switch.on():
        thread = threading.Thread(target=lambda: seen.append(switch.is_on()))
        thread.start()
        thread.join()
        assert switch.is_on()
    assert seen == [False]
