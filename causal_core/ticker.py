"""`with ticking("preparing X"):` says "preparing X (20 s so far)" every 10 s while a long, silent
step runs, so a console never falls silent for long (the main job's corpus and temporary API)."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator


@contextmanager
def ticking(what: str, every_s: float = 10.0, say: Callable[[str], None] | None = None) -> Iterator[None]:
    say = say or (lambda s: print(s, flush=True))
    done, t0 = threading.Event(), time.monotonic()

    def tick() -> None:
        while not done.wait(every_s):
            say(f"{what} ({time.monotonic() - t0:.0f} s so far)")
    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
