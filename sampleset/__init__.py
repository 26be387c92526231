"""Sample sets: score whole folders of fingerprint images on every core or a Dask cluster.

- :mod:`ifb1.sampleset.run`: :func:`~ifb1.sampleset.run.run_sampleset`, what ``ifb1 quality`` calls;
- :mod:`ifb1.sampleset.engine`: :func:`~ifb1.sampleset.engine.map_ordered` /
  :func:`~ifb1.sampleset.engine.map_unordered`, a picklable function over items on a process
  pool or a ``distributed.Client`` (also meant for ``ifb1 batch --scheduler``);
- :mod:`ifb1.sampleset.listing`: which files (folders walked, sorted, hidden skipped);
- :mod:`ifb1.sampleset.score`: one file's score, the unit of work;
- :mod:`ifb1.sampleset.nfiq2csv`: NIST ``nfiq2 -a -v``'s CSV, resumable;
- :mod:`ifb1.sampleset.progress`: the progress bar.

Nothing here imports numpy or distributed at import time.
"""
