"""Query and download against a local HTTP server on 127.0.0.1 (no other address is contacted)."""
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from npvae.data.download import download_spectra, fetch_sdss, spec_lite_path
from npvae.data.query import build_query, parse_csv, run_query
from npvae.data.readers import read_spectrum, write_spec_lite
from npvae.utils import NpvaeError

ROWS = [(1000, 52000, 1, "26", 0.05, "GALAXY"), (1000, 52000, 2, "26", 0.10, "QSO"),
        (1001, 52001, 3, "26", 0.20, "GALAXY"), (1001, 52001, 4, "26", 0.30, "GALAXY")]


class Archive:
    """State of the fake SkyServer + SAS: files, planned failures, request log."""

    def __init__(self, files):
        self.files = files                      # url path -> bytes
        self.fail_first = {}                    # url path -> remaining 500 answers
        self.truncate = set()                   # url paths always served truncated
        self.requests = []
        self.queries = []


def _handler(archive):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            archive.requests.append(url.path)
            if url.path == "/SqlSearch":
                params = urllib.parse.parse_qs(url.query)
                archive.queries.append(params["cmd"][0])
                body = "#Table1\nplate,mjd,fiberid,run2d,z,class\n" + "".join(
                    f"{p},{m},{f},{r},{z},{c}\n" for p, m, f, r, z, c in ROWS)
                return self._send(200, body.encode())
            if archive.fail_first.get(url.path, 0) > 0:
                archive.fail_first[url.path] -= 1
                return self._send(500, b"server error")
            data = archive.files.get(url.path)
            if data is None:
                return self._send(404, b"not found")
            if url.path in archive.truncate:
                data = data[:len(data) // 2]
            self._send(200, data)

        def _send(self, code, body):
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture
def server(tmp_path, record_factory):
    rng = np.random.default_rng(30)
    files = {}
    for plate, mjd, fiber, run2d, z, cls in ROWS[:3]:           # the 4th file is missing (404)
        path = tmp_path / "src.fits"
        write_spec_lite(path, record_factory(rng, z=z, cls=cls, fiber=fiber))
        name = f"spec-{plate:04d}-{mjd:05d}-{fiber:04d}.fits"
        files[f"/sas/{run2d}/spectra/lite/{plate:04d}/{name}"] = path.read_bytes()
    archive = Archive(files)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(archive))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield archive, base
    httpd.shutdown()
    httpd.server_close()


def test_query_text_is_the_papers_selection_with_order():
    sql = build_query(500, zmax=0.36, where=["s.zWarning = 0"])
    assert sql.startswith("SELECT TOP 500 s.plate, s.mjd, s.fiberid, s.run2d, s.z, s.class")
    assert "(s.legacy_target1 & 70) > 0" in sql and "s.z > 0.0" in sql and "s.z <= 0.36" in sql
    assert "(s.zWarning = 0)" in sql and sql.endswith("ORDER BY s.specObjID")
    with pytest.raises(NpvaeError, match="no column PLATE"):
        parse_csv("#Table1\nError: syntax error near TOP\n")


def test_query_runs_against_the_local_endpoint(server):
    archive, base = server
    table = run_query(build_query(4), f"{base}/SqlSearch")
    assert list(table["FIBERID"]) == [1, 2, 3, 4] and table["CLASS"][1] == "QSO"
    assert archive.queries[-1] == build_query(4)


def test_download_retry_truncation_resume(server, tmp_path):
    archive, base = server
    table = parse_csv("plate,mjd,fiberid,run2d,z,class\n" + "".join(
        f"{p},{m},{f},{r},{z},{c}\n" for p, m, f, r, z, c in ROWS))
    paths = sorted(archive.files)
    archive.fail_first[paths[0]] = 2                           # 500 twice, then fine
    archive.truncate.add(paths[2])                             # always half a file
    waits = []
    folder = tmp_path / "spectra"
    report = download_spectra(table, folder, base_url=f"{base}/sas", n_workers=3, retries=3,
                              backoff=0.5, verbose=False, sleep=waits.append)
    assert report.downloaded == 2 and report.present == 0 and len(report.failed) == 2
    reasons = dict(report.failed)
    assert any("truncated" in r for r in reasons.values())
    assert any("HTTP 404" in r for r in reasons.values())
    assert archive.requests.count(paths[0]) == 3               # 2 x 500 + success
    assert archive.requests.count(paths[2]) == 4               # 1 + 3 retries, all truncated
    assert sorted(waits)[:2] == [0.5, 0.5] and max(waits) == 2.0      # exponential backoff
    assert (folder / "failed.csv").read_text().count("\n") == 3
    got = read_spectrum(spec_lite_path(folder, 1000, 52000, 2))
    assert got.cls == "QSO" and got.fiber == 2
    assert not spec_lite_path(folder, 1001, 52001, 3).exists()  # truncated file never kept
    leftovers = [p for p in folder.rglob("*") if p.is_file() and p.name.startswith(".")]
    assert leftovers == []
    # resume: complete files are not fetched again; the truncated one heals once served whole
    archive.truncate.clear()
    before = len(archive.requests)
    report = download_spectra(table, folder, base_url=f"{base}/sas", verbose=False, sleep=waits.append)
    assert report.present == 2 and report.downloaded == 1 and len(report.failed) == 1
    missing = paths[2].replace("spec-1001-52001-0003", "spec-1001-52001-0004")   # the 404 one
    assert sorted(archive.requests[before:]) == sorted([paths[2], missing])


def test_fetch_sdss_saves_catalogue_and_resumes_without_querying(server, tmp_path):
    archive, base = server
    home = tmp_path / "home"
    kwargs = dict(data_home=home, sql_url=f"{base}/SqlSearch", sas_url=f"{base}/sas",
                  retries=0, verbose=False, sleep=lambda s: None)
    catalog, report, spectra = fetch_sdss(4, **kwargs)
    assert (home / "sdss_catalog.ecsv").exists() and len(catalog) == 4
    assert report.downloaded == 3 and len(report.failed) == 1
    n_queries = len(archive.queries)
    _, report2, _ = fetch_sdss(4, **kwargs)
    assert len(archive.queries) == n_queries and report2.present == 3


def test_fetch_sdss_command_summarises_and_flags_failures(server, tmp_path, capsys):
    from npvae.cli import main

    archive, base = server
    code = main(["fetch-sdss", "--n", "4", "--data-home", str(tmp_path / "h"), "--sql-url",
                 f"{base}/SqlSearch", "--sas-url", f"{base}/sas", "--retries", "0", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 1 and "downloaded 3, already present 0, failed 1" in out and "HTTP 404" in out
    assert "1 files failed" in err
