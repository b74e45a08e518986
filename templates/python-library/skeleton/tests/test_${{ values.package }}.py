import pytest

from ${{ values.package }} import __version__, greet


def test_greet():
    assert greet("Trellis") == "Hello, Trellis!"


def test_greet_refuses_nobody():
    with pytest.raises(ValueError):
        greet("")


def test_version():
    assert __version__ == "0.1.0"
