"""SDSS data path: query, download, readers, preprocessing, dataset file."""
