"""Executes the tutorial notebooks in parallel into the documentation's jupyter-cache.

``scripts/docs.sh`` runs this before Sphinx and then builds with myst-nb's
``cache`` execution mode, so every notebook runs exactly once per build and
several run at the same time. Sphinx's own parallel reading cannot do that: it
hands the documents out in alphabetical chunks, and most tutorials fall into
one chunk, so they would run one after the other.

Every notebook is executed (in quick mode, in the environment ``docs/conf.py`` sets), whether or
not the cache holds outputs for it: library code may have changed since. A
notebook that raises makes the command exit with status 1 after printing its
traceback.

Usage: ``python3 scripts/execute_notebooks.py [--jobs N] [--cache DIR] [NOTEBOOK ...]``
(default: every ``docs/tutorials/*.ipynb``, as many at a time as the process
may use cores).
"""

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

from jupyter_cache import get_cache
from jupyter_cache.executors.basic import ExecutionWorkerLocalMProc, ProcessData

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
from notebook_environment import set_notebook_environment  # noqa: E402

CACHE = ROOT / "docs" / "_build" / ".jupyter_cache"  # nb_execution_cache_path in docs/conf.py
CELL_TIMEOUT = 600  # seconds, nb_execution_timeout in docs/conf.py


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument(
        "--cache", type=Path, default=CACHE, help="the jupyter-cache folder (default: the docs build's)"
    )
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "docs" / "tutorials").glob("*.ipynb"))
    set_notebook_environment()

    cache = get_cache(str(args.cache))
    records = [cache.add_nb_to_project(str(path.resolve())) for path in notebooks]
    work = [ProcessData(record.pk, record.uri, cache, CELL_TIMEOUT, False) for record in records]
    start = time.perf_counter()
    with multiprocessing.Pool(max(1, min(args.jobs, len(work)))) as pool:
        outcomes = pool.map(ExecutionWorkerLocalMProc(), work, chunksize=1)
    failed = [uri for status, uri in outcomes if status != 0]
    print(f"executed {len(work) - len(failed)} of {len(work)} notebooks in {time.perf_counter() - start:.0f} s")
    for uri in failed:
        print(f"\n{uri} failed:\n{cache.get_project_record(uri).traceback or '(no traceback recorded)'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
