import pytest


@pytest.fixture(scope="session")
def host():
    """The compiled CPU backend; it is part of every install, so its absence is a failure."""
    from pykit.backends.host import host_module

    return host_module()


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(1234)
