"""``cupyx.scipy`` of the emulated CuPy."""
