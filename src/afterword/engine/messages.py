"""The old name of :mod:`afterword.engine.mail_text`, kept while web/app.py and
web/pages.py still import ``check_address`` and ``when`` from here (issue 16)."""

from afterword.engine.mail_text import check_address, when

__all__ = ["check_address", "when"]
