"""Scale-out on Ray: many tickers (``batch``) and hyperparameter sweeps (``sweep``).
``engine`` is the only module that imports Ray."""
