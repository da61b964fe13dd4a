"""Finding pipelines: import a pipeline file or module and collect the pipelines it defines.

A file is imported under a private module name derived from its path (its folder is put on
``sys.path`` while it is imported, as Airflow does for its DAG folder); a module is imported by name.
Each source is imported once per process. The same loader serves ``hookline pipelines run``, the
Celery worker (``hookline worker FILE_OR_MODULE``) and the references in task messages
(``file:/abs/path.py`` or ``module:package.name``).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import threading
from pathlib import Path

from hookline import masking
from hookline.exceptions import PipelineError, PipelineNotFound
from hookline.pipelines.dag import Pipeline, defined_pipelines

__all__ = ["find_pipeline", "load_pipelines", "source_reference"]

_loaded: dict[str, dict[str, Pipeline]] = {}
_lock = threading.RLock()


def source_reference(source: str) -> str:
    """The reference of a file path or module name: ``file:/abs/path.py`` or ``module:name``.

    A string naming an existing file (or ending with ``.py``) is a file; ``file:`` and ``module:``
    prefixes are kept.
    """
    if source.startswith(("file:", "module:")):
        return source
    path = Path(source)
    if path.suffix == ".py" or path.is_file():
        return f"file:{path.resolve()}"
    return f"module:{source}"


def _import_file(path: Path) -> None:
    if not path.is_file():
        raise PipelineError(f"pipeline file {path} does not exist")
    name = "hookline_pipeline_file_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PipelineError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    folder = str(path.parent)
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        if added and folder in sys.path:
            sys.path.remove(folder)


def load_pipelines(source: str) -> dict[str, Pipeline]:
    """The pipelines defined by a file or module (imported once per process), by id.

    Raises:
        PipelineError: the file does not exist, or importing it raised (the message holds the
            error, masked; the original is chained).
        PipelineNotFound: it defines no pipeline.
    """
    ref = source_reference(source)
    with _lock:
        found = _loaded.get(ref)
        if found is not None:
            return found
        collected: list[Pipeline] = []
        stack = defined_pipelines()
        stack.append(collected)
        kind, _, target = ref.partition(":")
        try:
            if kind == "file":
                _import_file(Path(target))
            else:
                module = importlib.import_module(target)
                if not collected:  # imported before: take the pipelines it holds
                    collected.extend(v for v in vars(module).values() if isinstance(v, Pipeline))
        except PipelineError:
            raise
        except Exception as exc:
            where = ""
            tb = exc.__traceback__
            while tb is not None:
                if tb.tb_frame.f_code.co_filename == target:
                    where = f" (line {tb.tb_lineno})"
                tb = tb.tb_next
            raise PipelineError(
                masking.redact(f"cannot import {target}{where}: {type(exc).__name__}: {exc}")
            ) from exc
        finally:
            stack.pop()
        pipelines: dict[str, Pipeline] = {}
        for pipeline in collected:
            pipelines.setdefault(pipeline.pipeline_id, pipeline)
        if not pipelines:
            raise PipelineNotFound(f"{target} defines no pipeline")
        _loaded[ref] = pipelines
        return pipelines


def find_pipeline(source: str, pipeline_id: str | None = None) -> Pipeline:
    """One pipeline of a file or module: ``pipeline_id``, or the only one it defines.

    Raises:
        PipelineNotFound: no such pipeline, or several and no id given (the message lists them).
    """
    pipelines = load_pipelines(source)
    if pipeline_id is None:
        if len(pipelines) == 1:
            return next(iter(pipelines.values()))
        raise PipelineNotFound(
            f"{source} defines {len(pipelines)} pipelines ({', '.join(sorted(pipelines))}); "
            "name one"
        )
    try:
        return pipelines[pipeline_id]
    except KeyError:
        raise PipelineNotFound(
            f"{source} has no pipeline {pipeline_id!r}; it defines: {', '.join(sorted(pipelines))}",
            pipeline_id=pipeline_id,
        ) from None
