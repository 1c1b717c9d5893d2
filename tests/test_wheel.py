"""The sdist and wheel as a user gets them: built from the tracked files, checked with twine,
installed into a fresh virtual environment outside the checkout, and run from there."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

from realtime_adain import __version__

REPO = Path(__file__).resolve().parents[1]

# build, twine and setuptools >= 77 come with the dev extra, which the test command installs: no skip.
import build  # noqa: E402,F401
import setuptools  # noqa: E402
import twine  # noqa: E402,F401

assert int(setuptools.__version__.split(".")[0]) >= 77, "the wheel test needs the dev extra's setuptools >= 77"

# One worker builds the wheel once for every test here (.ci/run's --dist loadgroup): spread over two
# workers, each built it (5.6 s twice in the default run, 2026-12-07).
pytestmark = pytest.mark.xdist_group("wheel")


def repo_files(*paths: str) -> list[str]:
    """Tracked files, and new ones not ignored: what a commit of this tree would hold."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the wheel is checked against git's file list")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *paths],
                            cwd=REPO, capture_output=True, text=True, check=True).stdout
    return sorted(name for name in listed.split("\0") if name and (REPO / name).is_file())


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict[str, Path]:
    """{'sdist': ..., 'wheel': ...} built from a copy of the repository's files (no stray build output)."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("dist")
    for name in repo_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    # --no-isolation: the installed setuptools builds it, so no network is needed.
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
                   check=True, capture_output=True, text=True)
    [sdist], [wheel] = sorted(out.glob("*.tar.gz")), sorted(out.glob("*.whl"))
    return {"sdist": sdist, "wheel": wheel}


@pytest.fixture(scope="module")
def installed(dist, tmp_path_factory) -> Path:
    """A virtual environment holding only the wheel (torch etc. come from the system site-packages)."""
    env_dir = tmp_path_factory.mktemp("venv") / "env"
    venv.create(env_dir, system_site_packages=True, with_pip=False)  # the system pip serves it
    python = env_dir / "bin" / "python"
    if sys.prefix != sys.base_prefix:  # the tests run in a venv: chain it, the system site lacks its packages
        purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                 check=True, capture_output=True, text=True).stdout.strip()
        Path(purelib, "outer-environment.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed",
                    "--disable-pip-version-check", "--no-index", str(dist["wheel"])],
                   check=True, capture_output=True, text=True)
    return env_dir


def run_installed(env_dir: Path, cwd: Path, *args: str, extra_env: dict[str, str] | None = None) -> str:
    """Run the installed `realtime-adain`, away from the checkout (no PYTHONPATH, another cwd)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | (extra_env or {})
    done = subprocess.run([str(env_dir / "bin" / "realtime-adain"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"realtime-adain {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


def test_twine_check(dist):
    done = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(dist["sdist"]), str(dist["wheel"])],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_wheel_holds_every_package_file_and_one_version(dist, run_cli):
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(f"realtime_adain-{__version__}.dist-info/METADATA").decode()
    missing = sorted(set(repo_files("realtime_adain")) - names)
    assert not missing, f"files of the package missing from the wheel (configure [tool.setuptools.package-data]): {missing}"
    assert "realtime_adain/py.typed" in names
    assert dist["wheel"].name.startswith(f"realtime_adain-{__version__}-")
    assert f"\nVersion: {__version__}\n" in metadata
    assert run_cli("--version")[1] == f"realtime-adain {__version__}\n"


def test_sdist_holds_what_the_readme_points_to(dist):
    """The sdist held tests/test_*.py without conftest.py and the helper modules they import (so
    they could not run), and neither the LICENSE pyproject names nor tools/, docs/ and .ci/run,
    which README.md points to (MANIFEST.in)."""
    with tarfile.open(dist["sdist"]) as sdist:
        top = f"realtime_adain-{__version__}/"
        members = {member.name.removeprefix(top): member for member in sdist.getmembers() if member.isfile()}
    wanted = repo_files("LICENSE", "tests", "tools", "docs", ".ci", "engines")
    assert {"LICENSE", "tests/conftest.py", "tools/train.py", "docs/training.md", ".ci/run"} <= set(wanted)
    missing = sorted(set(wanted) - set(members))
    assert not missing, f"missing from the sdist (add them to MANIFEST.in): {missing}"
    assert members[".ci/run"].mode & 0o111, ".ci/run lost its executable bit"
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        assert f"realtime_adain-{__version__}.dist-info/licenses/LICENSE" in wheel.namelist()


@pytest.mark.slow  # (default run's time, 2026-12-07: a venv and an install, ~35 s; the build's checks above stay)
def test_installed_wheel_runs_image_and_doctor(installed, published_weights, data_dir, tmp_path):
    vgg, decoder = published_weights
    env = {"REALTIME_ADAIN_VGG": str(vgg), "REALTIME_ADAIN_DECODER": str(decoder),
           "REALTIME_ADAIN_HOME": str(tmp_path / "home")}
    out = tmp_path / "out.png"
    run_installed(installed, tmp_path, "image", str(data_dir / "content" / "cornell.jpg"),
                  "-s", str(data_dir / "style" / "trial.jpg"), "-o", str(out),
                  "--size", "48", "--style-size", "64", extra_env=env)
    assert out.stat().st_size > 0

    report = json.loads(run_installed(installed, tmp_path, "doctor", "--json", extra_env=env))
    assert report["realtime_adain"] == __version__  # what the installed `--version` prints
    versions = {f["name"]: f["value"] for f in report["sections"]["versions"]}
    assert versions["realtime-adain"] == f"{__version__} ({installed.resolve()}/lib/python{sys.version_info.major}."\
        f"{sys.version_info.minor}/site-packages/realtime_adain)", "the wheel's copy ran, not the checkout's"
    weights = {f["name"]: f["level"] for f in report["sections"]["weights"]}
    assert weights["vgg"] == weights["decoder"] == "ok"
