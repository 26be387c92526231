"""Sample sets: score whole folders of fingerprint images on every core or a Dask cluster."""
