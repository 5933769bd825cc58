"""Where the tasks run: dask's local schedulers or a dask.distributed cluster."""

from __future__ import annotations

import contextlib
import logging
import sys

from ..errors import SkelkitError

LOCAL_SCHEDULERS = ("threads", "threading", "processes", "synchronous", "sync", "single-threaded")


@contextlib.contextmanager
def executor(scheduler=None, workers: int | None = None, progress: bool = False):
    """Yield ``compute(*collections) -> tuple of results`` for the chosen scheduler.

    Parameters
    ----------
    scheduler : None, str or distributed.Client
        ``None``: dask's default (threads, or the active distributed client);
        one of ``"threads"``, ``"processes"``, ``"synchronous"``; a scheduler
        address such as ``"tcp://10.0.0.5:8786"``; or a ``Client``.
    workers : int, optional
        Start a ``distributed.LocalCluster`` with this many single-threaded
        workers for the duration of the call (worker processes, or threads in
        this process with ``scheduler="threads"``).
    progress : bool
        Show dask's ``ProgressBar`` (local) or distributed's ``progress``.
    """
    if workers is not None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise SkelkitError(f"workers must be a positive integer, got {workers!r}")
        if scheduler not in (None, "threads", "processes"):
            raise SkelkitError("workers=N starts a local cluster; do not combine it with a scheduler address")
        with _local_cluster(workers, processes=scheduler != "threads") as client:
            yield _distributed_compute(client, progress)
        return
    if scheduler is None or (isinstance(scheduler, str) and scheduler in LOCAL_SCHEDULERS):
        import dask

        with dask.config.set(scheduler=scheduler) if scheduler else contextlib.nullcontext():
            client = _default_client()
            yield _distributed_compute(client, progress) if client else _local_compute(progress)
        return
    if _is_client(scheduler):
        yield _distributed_compute(scheduler, progress)
        return
    if isinstance(scheduler, str) and ":" in scheduler:
        from distributed import Client

        try:
            client = Client(scheduler, timeout=30, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise SkelkitError(f"cannot reach dask scheduler {scheduler}: {exc}") from None
        with client:
            yield _distributed_compute(client, progress)
        return
    raise SkelkitError(
        f"unknown scheduler {scheduler!r}; use one of {', '.join(LOCAL_SCHEDULERS[:4])}, "
        "a scheduler address (tcp://host:port) or a distributed.Client"
    )


@contextlib.contextmanager
def _local_cluster(n: int, processes: bool):
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=processes,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    try:
        with Client(cluster, set_as_default=False) as client:
            yield client
    finally:
        cluster.close()


def _local_compute(progress: bool):
    import dask

    def compute(*collections):
        if not progress:
            return dask.compute(*collections)
        from dask.diagnostics import ProgressBar

        with ProgressBar(out=sys.stderr):
            return dask.compute(*collections)

    return one_line_errors(compute)


def _distributed_compute(client, progress: bool):
    def compute(*collections):
        futures = client.compute(list(collections))
        if progress:
            from distributed import progress as show

            show(futures, scheduler=client.scheduler.address, multi=False)
        return tuple(client.gather(futures))

    return one_line_errors(compute)


def one_line_errors(compute):
    """A task's exception (a damaged chunk, memory) as a one-line SkelkitError, not a traceback through dask."""

    def wrapped(*collections):
        try:
            return compute(*collections)
        except SkelkitError:
            raise
        except Exception as exc:
            raise SkelkitError(f"chunked run failed: {exc.__class__.__name__}: {' '.join(str(exc).split())[:200]}") \
                from None

    return wrapped


def _default_client():
    """The active distributed client if dask is configured to use one (else None)."""
    import dask

    if dask.config.get("scheduler", None) not in (None, "dask.distributed", "distributed"):
        return None
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        return None


def _is_client(obj) -> bool:
    return type(obj).__name__ == "Client" and type(obj).__module__.startswith("distributed")
