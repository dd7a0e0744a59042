"""Executors: serial (in this process), a local process pool (default for workers > 1), Dask.

All three run the same worker function (`worker.run_batch`) on batches of scenarios and feed
one scheduling loop (`execute`), which

* **batches** scenarios into tasks of about `batch_seconds` of work: the first task of each
  worker holds one scenario; then a running mean of the seconds per scenario sizes the batches,
  capped so that at least two tasks per worker remain for balance near the end. Results do not
  depend on batching (every scenario is run on its own, from its own seeds);
* keeps about two tasks per worker in flight (no flood of futures on the Dask scheduler);
* hands every result to `on_result` as its task finishes (the store appends it to rows.jsonl);
* **survives a dying worker**: the tasks that were in flight when a worker died become
  *suspects* and are run again *alone* (nothing else in flight), so a crash of a suspect is
  its own. A suspect batch that crashes alone is split in halves; a single scenario that crashes
  alone ``retries + 1`` times is recorded as ``error`` ("worker died"), never lost. A local pool
  is rebuilt after a crash (all its in-flight tasks fail with it); Dask re-runs tasks of a dead
  worker by itself (up to the scheduler's ``distributed.scheduler.allowed-failures``) and only
  then reports `KilledWorker`, which enters the same logic;
* on **Ctrl-C** stops submitting, cancels what is in flight and returns ``interrupted=True``;
  every result received before is already on disk.
"""
from __future__ import annotations

import concurrent.futures as cf
import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from comparisons.sweeps import classify, worker
from comparisons.sweeps.grid import Point


class SchedulerUnreachable(ConnectionError):
    """The Dask scheduler given as `scheduler` does not answer."""


class WorkerDied(Exception):
    """The worker process running a task died (killed, out of memory, a crash in native code)."""


@dataclass
class Task:
    points: list[Point]
    suspect: bool = False  # was in flight when a worker died: runs alone
    crashes: int = 0  # crashes while running alone


# ---------------------------------------------------------------------- engines
class SerialEngine:
    """Runs each task in this process when it is submitted (no worker, no pickling)."""

    kind = "serial"
    workers = 1

    def __init__(self, options: worker.WorkOptions):
        self.options = options
        self._context = worker.in_process(options)
        self._context.__enter__()

    @property
    def capacity(self) -> int:
        return 1

    def describe(self) -> str:
        return "serial (this process)"

    def submit(self, points: Sequence[Point], options: worker.WorkOptions | None = None) -> cf.Future:
        future: cf.Future = cf.Future()
        results = []
        for point in points:
            result = worker.run_point(point.to_dict(), options or self.options)
            if result["status"] == "interrupted":  # Ctrl-C inside the runner: it kept the steps, we stop
                future.set_result(results)
                raise KeyboardInterrupt
            results.append(result)
        future.set_result(results)
        return future

    def wait(self, futures: Sequence[Any]) -> list[Any]:
        return list(futures)

    def result(self, future: Any) -> list[dict[str, Any]]:
        return future.result()

    def close(self, cancel: bool = False) -> None:
        self._context.__exit__(None, None, None)


class PoolEngine:
    """A local `ProcessPoolExecutor` of spawned processes, set up once each (`worker.init_pool_process`)."""

    kind = "pool"

    def __init__(self, options: worker.WorkOptions, workers: int):
        self.options = options
        self.workers = workers
        self.restarts = 0
        self.pool = self._start()

    def _start(self) -> cf.ProcessPoolExecutor:
        import multiprocessing

        return cf.ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                      initializer=worker.init_pool_process, initargs=(self.options,))

    @property
    def capacity(self) -> int:
        return 2 * self.workers

    def describe(self) -> str:
        return f"local process pool, {self.workers} workers x {self.options.threads} thread(s)"

    def submit(self, points: Sequence[Point], options: worker.WorkOptions | None = None) -> cf.Future:
        batch = [p.to_dict() for p in points]
        with worker.thread_environment(self.options.threads):  # a worker started here inherits it
            try:
                return self.pool.submit(worker.run_batch, batch, options or self.options)
            except cf.process.BrokenProcessPool:
                self._restart()
                return self.pool.submit(worker.run_batch, batch, options or self.options)

    def wait(self, futures: Sequence[Any]) -> list[Any]:
        done, _ = cf.wait(futures, timeout=1.0, return_when=cf.FIRST_COMPLETED)
        return list(done)

    def result(self, future: Any) -> list[dict[str, Any]]:
        try:
            return future.result()
        except cf.process.BrokenProcessPool as error:
            if getattr(self.pool, "_broken", False):  # the first of the pool's failed futures: rebuild it
                self._restart()
            raise WorkerDied(str(error) or "a worker process died") from None

    def _restart(self) -> None:
        self.restarts += 1
        old = self.pool
        self.pool = self._start()
        old.shutdown(wait=False, cancel_futures=True)

    def close(self, cancel: bool = False) -> None:
        """Stop the workers. They hold no state (every result has been handed over), so they are
        terminated rather than left to unload torch and TensorFlow, which takes seconds; on
        Ctrl-C (they ignore SIGINT) this is also what stops a running task."""
        processes = list((getattr(self.pool, "_processes", None) or {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=10)


class DaskEngine:
    """Dask `distributed`: an existing scheduler (address or Client), or an embedded LocalCluster."""

    kind = "dask"

    def __init__(self, options: worker.WorkOptions, scheduler: Any, workers: int):
        try:
            import distributed
        except ImportError as error:  # pragma: no cover - the sweep extra installs it
            raise ImportError("Dask execution needs the 'sweep' extra: pip install 'scratchnet-parity[sweep]' "
                              "-c constraints.txt") from error
        import dask

        self.options = options
        self.cluster = None
        self.own_client = True
        if isinstance(scheduler, distributed.Client):
            self.client, self.own_client = scheduler, False
        elif scheduler in (None, "", "local", "dask"):
            import logging

            # a dead worker's task is retried by this loop (alone, then split), not by Dask
            with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
                environment = {name: str(options.threads) for name in worker.THREAD_VARIABLES}
                self.cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                        dashboard_address=None, silence_logs=logging.ERROR,
                                                        env=environment)
            self.client = distributed.Client(self.cluster)
        else:
            try:
                self.client = distributed.Client(scheduler, timeout="20s")
            except (OSError, TimeoutError) as error:
                raise SchedulerUnreachable(f"cannot reach the Dask scheduler at {scheduler!r}: {error}") from None
        self.address = self.client.scheduler.address
        self._killed = distributed.KilledWorker

    @property
    def workers(self) -> int:
        info = self.client.scheduler_info()
        return max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))

    @property
    def capacity(self) -> int:
        return 2 * self.workers

    def describe(self) -> str:
        where = "embedded LocalCluster" if self.cluster is not None else f"scheduler {self.address}"
        return f"Dask distributed, {where}, {self.workers} worker thread(s)"

    def submit(self, points: Sequence[Point], options: worker.WorkOptions | None = None) -> Any:
        return self.client.submit(worker.run_batch, [p.to_dict() for p in points], options or self.options, pure=False)

    def wait(self, futures: Sequence[Any]) -> list[Any]:
        import distributed

        try:
            done, _ = distributed.wait(futures, timeout=1.0, return_when="FIRST_COMPLETED")
        except distributed.TimeoutError:
            return []
        return list(done)

    def result(self, future: Any) -> list[dict[str, Any]]:
        try:
            return future.result()
        except self._killed as error:
            raise WorkerDied(str(error)) from None

    def close(self, cancel: bool = False) -> None:
        if self.own_client:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def engine_for(options: worker.WorkOptions, workers: int, scheduler: Any) -> Any:
    """scheduler None or "pool": serial for one worker, else a local process pool; "local"/"dask":
    an embedded Dask LocalCluster; an address ("tcp://host:8786") or a `distributed.Client`: Dask."""
    if scheduler in (None, "pool", ""):
        return SerialEngine(options) if workers <= 1 else PoolEngine(options, workers)
    if scheduler == "serial":
        return SerialEngine(options)
    return DaskEngine(options, scheduler, workers)


# ---------------------------------------------------------------------- the loop
@dataclass
class Outcome:
    interrupted: bool = False
    crashes: int = 0
    tasks: int = 0
    seconds_per_scenario: float | None = None
    largest_batch: int = 0


def died_result(point: Point, crashes: int, error: str) -> dict[str, Any]:
    detail = (f"worker died while running this scenario, alone, {crashes} time(s): {error}; "
              "the scenario is recorded instead of retried again")
    return {"id": point.id, "index": point.index, "name": point.name, "status": "worker died",
            "rows": [classify.error_row(detail)], "files": {}, "worker": {}, "seconds": None}


def execute(points: Sequence[Point], engine: Any, on_result: Callable[[Mapping[str, Any], Point], None], *,
            batch_seconds: float = 2.0, retries: int = 1,
            progress: Callable[[int, int], None] | None = None) -> Outcome:
    """Run `points` on `engine`, calling ``on_result(result, point)`` as each finishes."""
    outcome = Outcome()
    queue = deque(points)
    suspects: deque[Task] = deque()
    in_flight: dict[Any, Task] = {}
    by_id = {point.id: point for point in points}
    total, finished = len(points), 0
    seconds: list[float] = []

    def batch_size() -> int:
        if not seconds or engine.kind == "serial":  # serial: one scenario per task, so Ctrl-C loses none
            return 1
        mean = sum(seconds[-50:]) / len(seconds[-50:])
        outcome.seconds_per_scenario = mean
        size = max(1, int(batch_seconds / max(mean, 1e-4)))
        return max(1, min(size, math.ceil(len(queue) / (2 * max(engine.workers, 1)))))

    def deliver(result: Mapping[str, Any]) -> None:
        nonlocal finished
        point = by_id[result["id"]]
        on_result(result, point)
        finished += 1
        if result.get("seconds") is not None:
            seconds.append(float(result["seconds"]))
        if progress is not None:
            progress(finished, total)

    try:
        while queue or suspects or in_flight:
            while len(in_flight) < engine.capacity and not any(t.suspect for t in in_flight.values()):
                if suspects:
                    if in_flight:
                        break  # a suspect runs alone
                    task = suspects.popleft()
                elif queue:
                    task = Task([queue.popleft() for _ in range(min(batch_size(), len(queue)))])
                else:
                    break
                outcome.largest_batch = max(outcome.largest_batch, len(task.points))
                in_flight[engine.submit(task.points)] = task
                outcome.tasks += 1
            for future in engine.wait(list(in_flight)):
                task = in_flight.pop(future)
                try:
                    results = engine.result(future)
                except WorkerDied as error:
                    outcome.crashes += 1
                    _crashed(task, str(error), suspects, retries, deliver)
                    continue
                except Exception as error:  # the task itself failed (cannot happen for a scenario's errors)
                    for point in task.points:
                        deliver({"id": point.id, "index": point.index, "name": point.name, "status": "error",
                                 "rows": [classify.error_row(f"task failed: {type(error).__name__}: {error}")],
                                 "files": {}, "worker": {}, "seconds": None})
                    continue
                for result in results:
                    deliver(result)
    except KeyboardInterrupt:
        outcome.interrupted = True
        engine.close(cancel=True)
        return outcome
    engine.close()
    return outcome


def _crashed(task: Task, error: str, suspects: deque, retries: int, deliver: Callable[[Mapping[str, Any]], None]) -> None:
    if not task.suspect:  # other tasks may have been running: find out alone
        suspects.append(Task(task.points, suspect=True))
        return
    task.crashes += 1
    if len(task.points) > 1:
        half = len(task.points) // 2
        suspects.appendleft(Task(task.points[half:], suspect=True))
        suspects.appendleft(Task(task.points[:half], suspect=True))
    elif task.crashes > retries:
        deliver(died_result(task.points[0], task.crashes, error))
    else:
        suspects.appendleft(task)
