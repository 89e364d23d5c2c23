import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def spin_dataset(tmp_path_factory):
    from spin_fixtures import build_dataset

    return build_dataset(tmp_path_factory.mktemp("spin") / "lbl")


@pytest.fixture(scope="session")
def tiny_model(spin_dataset, tmp_path_factory):
    from spin_fixtures import build_model

    return build_model(tmp_path_factory.mktemp("spin") / "tiny", spin_dataset)
