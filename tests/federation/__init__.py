"""Federation (issue 17) with real processes: several ``afterword serve`` behind TCP
proxies the tests drive (``cluster.py``, ``proxy.py``)."""
