"""Benchmark feeds and ingestion: parsers (``feeds``), raw bytes → snapshots and results
(``ingest``), and the ``results_changed`` signal. Knows nothing about questions or resolution:
whoever cares about new results (the milestone rules) subscribes to the signal."""
