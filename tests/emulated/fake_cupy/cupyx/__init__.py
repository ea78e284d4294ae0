"""``cupyx`` of the emulated CuPy (see ``cupy/__init__.py``)."""
