from collections.abc import Iterator

import pytest

from tests.fuzz.world import Target, target


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with target(tmp_path_factory.mktemp("fuzz")) as running:
        yield running
