"""afterword: a coercion-resistant dead man's switch.

The library is layered (see DESIGN.md): ``afterword.crypto`` and ``afterword.switch``
import nothing above them; the CLI is a thin shell over them.
"""

__version__ = "0.1.0"
