"""Built-in plugins: declared as `trellis.plugins` entry points in pyproject.toml, like any third party."""
