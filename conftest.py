import pytest


@pytest.fixture(scope="session")
def host():
    """The compiled CPU backend; it is part of every install, so its absence is a failure. Calls
    naming a plugin go to its project's host module (installed plugin projects are tested too)."""
    from pykit.backends.host import PluginHosts, host_module

    host_module()
    return PluginHosts()


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(1234)
