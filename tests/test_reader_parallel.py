"""Reading many files in parallel processes gives exactly what a serial read gives, in the same order."""
from benchmarks.synthetic import generate
from ingest.descriptors import read_catalog
from ingest.descriptors.reader import _Reader


def test_parallel_read_matches_serial(tmp_path, monkeypatch):
    generate(tmp_path, 3000, seed=3)
    (tmp_path / "teams" / "broken.yaml").write_text("kind: [\n")      # not reached: not a catalog-info file
    parallel = read_catalog(tmp_path)
    assert len(parallel.files) >= _Reader.PARALLEL_MIN_FILES
    monkeypatch.setattr(_Reader, "PARALLEL_MIN_FILES", 10**9)
    serial = read_catalog(tmp_path)
    assert [(d.file, d.index, d.entity) for d in parallel.documents] == \
        [(d.file, d.index, d.entity) for d in serial.documents]
    assert parallel.files == serial.files and parallel.rejections == serial.rejections
    assert parallel.digests == serial.digests and len(parallel.documents) > 2900
