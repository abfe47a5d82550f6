"""The tests mirror the code: ``streamreid/<package>/<module>.py`` is tested in ``tests/<package>/test_<module>.py``.

Top-level modules have ``tests/test_<module>.py``; whole runs (the pipeline end to end, the CLI on real
inputs, real servers) are in ``tests/e2e/``; shared helpers (``synthetic.py``, ``fake_run.py``,
``browser.py`` ...) stay in ``tests/`` (on ``sys.path`` through pyproject's ``pythonpath``).
"""

from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"

#: Modules without a test file of their own, and why. Remove an entry when its file is added.
UNTESTED = {
    "streamreid/reid/osnet.py": "tested in reid/test_embed.py (OSNet built from the shared weights)",
    "streamreid/reid/omz.py": "tested in reid/test_embed.py (the OMZ IR against the raw network)",
    "streamreid/reid/weights.py": "tested through weights/test_resolve.py and reid/test_embed.py",
    "streamreid/detect/weights.py": "tested through weights/test_resolve.py and detect/test_detector.py",
    "streamreid/detect/agreement.py": "tested in detect/test_detector.py (export agreement)",
    "streamreid/detect/openvino_backend.py": "tested in detect/test_detector.py (uint8 input vs ultralytics)",
    "streamreid/weights/records.py": "tested through weights/test_resolve.py",
    "streamreid/weights/cache.py": "tested through weights/test_resolve.py",
    "streamreid/weights/checks.py": "tested through weights/test_resolve.py (checksums, trust on first use)",
    "streamreid/weights/fetch.py": "tested through weights/test_resolve.py (file://, 127.0.0.1 server, timeout)",
    "streamreid/weights/catalog.py": "tested through weights/test_resolve.py and test_cli.py (the pinned table)",
}

#: Test files of tests/ itself that test no streamreid module: the helpers' own test, this one.
NOT_MODULES = {"test_synthetic.py", "test_layout.py"}


def _modules() -> list[Path]:
    return sorted(p.relative_to(ROOT) for p in (ROOT / "streamreid").rglob("*.py") if p.name != "__init__.py")


def _test_file(module: Path) -> Path:
    return TESTS.joinpath(*module.parts[1:-1], f"test_{module.stem}.py")


def test_every_module_has_a_test_file_of_its_own():
    missing = [str(m) for m in _modules() if not _test_file(m).is_file() and str(m) not in UNTESTED]
    assert missing == [], "add tests/<package>/test_<module>.py for each"


def test_the_list_of_modules_without_tests_is_not_stale():
    stale = [name for name in UNTESTED if not (ROOT / name).is_file() or _test_file(Path(name)).is_file()]
    assert stale == [], "these have a test file now (or are gone): remove them from UNTESTED"


def test_every_test_file_in_a_package_folder_names_a_module_of_that_package():
    wanted = {_test_file(m) for m in _modules()}
    tests = [p for p in TESTS.rglob("test_*.py") if p.parent != TESTS and p.parent.name != "e2e"]
    strays = [str(p.relative_to(TESTS)) for p in tests if p not in wanted]
    assert strays == [], "a test file in tests/<package>/ is named after a module of streamreid/<package>/"
    top = [p.name for p in TESTS.glob("test_*.py") if p not in wanted and p.name not in NOT_MODULES]
    assert top == [], "tests of no single module go in tests/e2e/"


def test_test_file_names_are_unique():
    """pytest's default import mode imports test files by their name alone: two of one name collide."""
    names = Counter(p.name for p in TESTS.rglob("*.py") if p.name != "__init__.py")
    assert [name for name, count in names.items() if count > 1] == []
