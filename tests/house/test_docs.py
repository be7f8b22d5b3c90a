"""The docs cannot drift from the tests, and point at nothing a reader cannot see.

Every ``tests/...py::test_name`` that a page of docs/ or a README names must be a function in
that test file (read with ast, not imported); every derivation page names its tests; the
equation index covers the paper's equations 1-13; and no module, page or README points at
``../shared``, at REFERENCE.md or at an issue number, which a reader of the package cannot see.
"""
import ast
import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md", ROOT / "benchmarks" / "README.md"]
SEARCHED = ["npvae", "docs", "benchmarks", "README.md"]
TEXT_SUFFIXES = {".py", ".md", ".txt", ".toml", ".cfg", ".html", ".js"}
TEST_REF = re.compile(r"(tests/[\w/]+\.py)::(\w+)")
ISSUE_WORD = re.compile(r"\bissues?\s*#?\d+", re.IGNORECASE)        # "issue 7", "Issue #3"
ISSUE_HASH = re.compile(r"(?<![\w&#])#\d+\b(?![0-9a-fA-F;])")          # "#12" (Markdown only: "#222;" is a colour)


def named_tests(text):
    """(test file, function name) pairs that ``text`` names as ``tests/x.py::name``."""
    return TEST_REF.findall(text)


def _functions(path):
    """Names of the functions defined in a Python file, at any depth (test-class methods too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _shown(path):
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def missing_tests(docs):
    """'doc: tests/x.py::name' for each reference in ``docs`` to a test that does not exist."""
    missing = []
    for doc in docs:
        for rel, name in named_tests(doc.read_text(encoding="utf-8")):
            path = ROOT / rel
            if not path.is_file() or name not in _functions(path):
                missing.append(f"{_shown(doc)}: {rel}::{name}")
    return missing


def reader_files():
    """Every text file a reader of the package sees: its code, docs, benchmarks, the README."""
    for name in SEARCHED:
        path = ROOT / name
        for p in [path] if path.is_file() else sorted(path.rglob("*")):
            if p.is_file() and p.suffix in TEXT_SUFFIXES and "__pycache__" not in p.parts:
                yield p


def forbidden_lines(files):
    """'file:line: text' for each line naming ../shared, REFERENCE.md or an issue number."""
    found = []
    for p in files:
        for i, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if ("../shared" in line or "/shared/" in line or "REFERENCE.md" in line or ISSUE_WORD.search(line)
                    or (p.suffix == ".md" and ISSUE_HASH.search(line))):
                found.append(f"{_shown(p)}:{i}: {line.strip()}")
    return found


# --- the docs name tests that exist ---------------------------------------------------------
def test_every_test_named_in_the_docs_exists():
    assert sum(len(named_tests(d.read_text(encoding="utf-8"))) for d in DOC_FILES if d.exists()) > 50
    assert missing_tests([d for d in DOC_FILES if d.exists()]) == []


def test_a_renamed_test_or_a_wrong_file_is_reported(tmp_path):
    doc = tmp_path / "page.md"
    doc.write_text("`tests/nn/test_losses.py::test_kl_is_zero_for_standard_normal_and_positive_otherwise`,\n"
                   "`tests/nn/test_losses.py::test_kl_is_zero_for_standard_normal`, and\n"
                   "`tests/nn/test_no_such_file.py::test_mmd_is_zero_for_identical_samples`.\n")
    assert missing_tests([doc]) == [
        "page.md: tests/nn/test_losses.py::test_kl_is_zero_for_standard_normal",
        "page.md: tests/nn/test_no_such_file.py::test_mmd_is_zero_for_identical_samples"]


def test_every_derivation_page_names_its_tests():
    pages = [p for p in sorted((ROOT / "docs" / "derivations").glob("*.md")) if p.name != "README.md"]
    assert len(pages) >= 8
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "## How it is tested" in text, page.name
        section = text.split("## How it is tested", 1)[1].split("\n## ", 1)[0]
        assert named_tests(section), f"{page.name}: 'How it is tested' names no test function"


def test_equation_index_covers_the_papers_thirteen_equations_each_with_tests():
    text = (ROOT / "docs" / "derivations" / "README.md").read_text(encoding="utf-8")
    numbered = set()
    for row in text.splitlines():
        cells = re.split(r"(?<!\\)\|", row)                  # not the \| of LaTeX
        if len(cells) > 5 and re.fullmatch(r"\s*\d+(,\s*\d+)*\s*", cells[1]):
            numbered.update(int(n) for n in cells[1].split(","))
            assert named_tests(cells[5]), row
    assert numbered == set(range(1, 14))


# --- nothing a reader cannot see ---------------------------------------------------------------
def test_no_shared_paths_reference_file_or_issue_numbers_for_readers():
    assert forbidden_lines(reader_files()) == []


def test_each_kind_of_forbidden_line_is_found_and_colours_are_not(tmp_path):
    lines = ["see ../shared/bench/x.py", "numbers in REFERENCE.md", "(issue 7, item 6)",
             "fixed in #12.", "colours #d62728 and #222; heading [x](#setup)"]
    md, py = tmp_path / "page.md", tmp_path / "mod.py"
    md.write_text("\n".join(lines) + "\n")
    py.write_text("\n".join(lines) + "\n")
    assert [f.split(":")[:2] for f in forbidden_lines([md, py])] == [
        ["page.md", "1"], ["page.md", "2"], ["page.md", "3"], ["page.md", "4"],
        ["mod.py", "1"], ["mod.py", "2"], ["mod.py", "3"]]


# --- the equation index and the docstrings agree --------------------------------------------------
EQ_CITED = re.compile(r"\beqs?\.\s*([\s\d,\-()and]*)", re.IGNORECASE)      # "eqs. 1 and 4 (and 9)", "eqs. 6-9"
DERIVATION_PAGE = re.compile(r"\b(linear|relu|reparameterization|gaussian_nll|kl|mmd|adam|infovae_objective|noise_aware)\.md\b")


def cited_equations(doc):
    """The paper equation numbers a docstring cites after 'eq.' / 'eqs.', ranges expanded."""
    numbers = set()
    for run in EQ_CITED.findall(doc):
        for a, b in re.findall(r"(\d+)(?:\s*-\s*(\d+))?", run):
            numbers.update(range(int(a), int(b or a) + 1))
    return numbers


def _resolve(dotted):
    """The object a dotted name like npvae.nn.model.InfoVAE.encode names."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj, parts[:i]
    raise ImportError(dotted)


def _docstrings(dotted):
    """The docstring of a function, plus that of its plain-Python body ``_name`` if it has one."""
    obj, module_parts = _resolve(dotted)
    docs = [obj.__doc__ or ""]
    body = getattr(importlib.import_module(".".join(module_parts)), "_" + dotted.rsplit(".", 1)[1], None)
    if body is not None:
        docs.append(body.__doc__ or "")
    return "\n".join(docs)


def index_rows():
    """(equation numbers or None for an unnumbered row, implementing names) of the equation index."""
    text = (ROOT / "docs" / "derivations" / "README.md").read_text(encoding="utf-8")
    rows = []
    for row in text.splitlines():
        cells = re.split(r"(?<!\\)\|", row)                   # not the \| of LaTeX
        if len(cells) > 5 and "`npvae.nn." in cells[3]:
            label = cells[1].strip()
            numbers = {int(n) for n in label.split(",")} if re.fullmatch(r"[\d,\s]+", label) else None
            rows.append((numbers, re.findall(r"`(npvae\.nn\.[\w.]+)`", cells[3])))
    return rows


def docstring_problems(rows):
    """'name: why' for each implementing function whose docstring misses its equation or page."""
    problems = []
    for numbers, names in rows:
        for name in names:
            doc = _docstrings(name)
            if numbers is None and not re.search(r"paper Secs?\.", doc):
                problems.append(f"{name}: does not cite the paper's section")
            if numbers is not None and not numbers & cited_equations(doc):
                problems.append(f"{name}: cites eqs. {sorted(cited_equations(doc))}, not {sorted(numbers)}")
            if not DERIVATION_PAGE.search(doc):
                problems.append(f"{name}: names no derivation page")
    return problems


def test_every_function_in_the_equation_index_cites_its_equation():
    rows = index_rows()
    assert sum(len(names) for _, names in rows) >= 25
    assert docstring_problems(rows) == []


def test_cited_equations_reads_lists_and_ranges_and_a_wrong_citation_is_reported():
    assert cited_equations("Paper eqs. 1 and 4 (and 9) with f, eqs. 3, 5 without") == {1, 3, 4, 5, 9}
    assert cited_equations("paper eqs. 1, 6-9 and 5; paper eq. 12") == {1, 5, 6, 7, 8, 9, 12}
    assert docstring_problems([({13}, ["npvae.nn.losses.kl_to_standard_normal"])]) == [
        "npvae.nn.losses.kl_to_standard_normal: cites eqs. [8, 11], not [13]"]
    assert docstring_problems([(None, ["npvae.nn.model.InfoVAE.encode"])]) == [
        "npvae.nn.model.InfoVAE.encode: does not cite the paper's section"]
