"""atheris harnesses for every parser of untrusted input; run one with
``python -m fuzz.NAME [-max_total_time=S] [-runs=N] [CORPUS_DIR]`` from the repository
root, or all of them briefly with ``pytest tests/fuzz`` (``make fuzz`` runs them longer)."""
