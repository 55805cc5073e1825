"""Fixtures for tests that talk to a real local MLflow server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.churn_pipeline import (
    SMALL_HYPERPARAMETERS,
    Prepared,
    TrainedModel,
    Trainings,
    arn_tracking_env,
    prepare_data,
    start_training,
)
from tests.mlflow_server import MLFLOW_BIN, LaunchedServer, MlflowServer, MlflowServerError, launch_mlflow_server


@pytest.fixture(scope="session")
def mlflow_server_launched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaunchedServer]:
    """The session's `mlflow server` process, started and maybe not answering yet; stopped at the end.

    A fixture with work of its own to do before it needs the server (generating data) asks for
    this one first, so the server starts meanwhile; everything else asks for `mlflow_server`.
    """
    if not MLFLOW_BIN.exists():
        # Failing, not skipping: a skipped server test reads as green while proving nothing.
        pytest.fail(
            f"{MLFLOW_BIN} is missing: the MLflow test environment has not been created. "
            "Run `make test`, which creates it.",
            pytrace=False,
        )
    try:
        launched = launch_mlflow_server(tmp_path_factory.mktemp("mlflow-server"))
    except MlflowServerError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield launched
    finally:
        launched.stop()


@pytest.fixture(scope="session")
def mlflow_server(mlflow_server_launched: LaunchedServer) -> MlflowServer:
    """One real `mlflow server` (SQLite store, local artifact root) shared by the whole session.

    Tests that use it share its state: give experiments and models unique names. Mark them
    `@pytest.mark.mlflow` and `@pytest.mark.xdist_group(MLFLOW_XDIST_GROUP)` (see that constant).
    `.url` is the tracking URI, `.artifact_root` the default artifact root, and `.client_env()`
    the environment for a subprocess (a training script) that should log here.
    """
    try:
        return mlflow_server_launched.wait_until_ready()
    except MlflowServerError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def churn_prepared(mlflow_server_launched: LaunchedServer, tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    """The example's data set, generated and split once: the tests read it and never write to it.

    Every user of the data set goes on to use the server: asking for its launch first lets the
    server start while the data is generated.
    """
    return prepare_data(tmp_path_factory.mktemp("churn-data"))


@pytest.fixture(scope="session")
def churn_trainings(
    churn_prepared: Prepared, mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory
) -> Trainings:
    """The example trained twice at the same time: pointed at the server by URL, and given the tracking server ARN.

    The two are independent runs in experiments of their own; running them side by side lets
    one use the processor while the other waits for the server.
    """
    by_url_dir, by_arn_dir = tmp_path_factory.mktemp("churn-uri"), tmp_path_factory.mktemp("churn-arn")
    started = [
        start_training(mlflow_server, churn_prepared, by_url_dir, {"MLFLOW_TRACKING_URI": mlflow_server.url}),
        start_training(
            mlflow_server,
            churn_prepared,
            by_arn_dir,
            # Signed with throwaway credentials, as the pipeline signs with the job's role.
            arn_tracking_env(mlflow_server, by_arn_dir),
            hyperparameters=SMALL_HYPERPARAMETERS,
            evaluate=False,
        ),
    ]
    try:
        by_url, by_arn = (training.finish() for training in started)
        return Trainings(by_url=by_url, by_arn=by_arn)
    finally:
        for training in started:
            training.stop()


@pytest.fixture(scope="session")
def churn_trained(churn_trainings: Trainings) -> TrainedModel:
    """The training pointed at the server by URL, with its evaluation.

    test_example_model.py reads what it recorded at the time (`run`, `versions_after_training`),
    and test_register_step.py registers it. Tests that read the server afterwards see the
    Register step's additions, so a test about training alone reads the record taken right
    after training.
    """
    return churn_trainings.by_url
