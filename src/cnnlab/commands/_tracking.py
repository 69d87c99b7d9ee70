"""``--mlflow URI`` for the commands that train (train, repeat, search): checked before training, logged after."""

from __future__ import annotations

from cnnlab.commands._output import note


def add_mlflow_arguments(parser) -> None:
    parser.add_argument("--mlflow", metavar="URI",
                        help="also log the run(s) to MLflow: a folder (created if needed) or a tracking server "
                             "URL (http://...); needs the tracking extra: pip install 'cnnlab[tracking]'")
    parser.add_argument("--mlflow-experiment", metavar="NAME", default="cnnlab",
                        help="the MLflow experiment to log to (default %(default)s)")


def checked_mlflow_uri(args) -> str | None:
    """The tracking URI for ``--mlflow`` (None without it); a missing extra or a bad URI is refused now, before
    anything is trained."""
    if args.mlflow is None:
        return None
    from cnnlab.training.mlflow_log import check_mlflow

    return check_mlflow(args.mlflow)


def log_to_mlflow(run, uri: str | None, args, tags: dict[str, str] | None = None) -> str | None:
    """Log a finished run to MLflow when ``--mlflow`` was given; returns the MLflow run id (None without it)."""
    if uri is None:
        return None
    from cnnlab.training.mlflow_log import log_run

    run_id = log_run(run, uri, args.mlflow_experiment, tags)
    note(f"logged {run.path} to MLflow ({args.mlflow}, experiment {args.mlflow_experiment}): run {run_id}")
    return run_id
