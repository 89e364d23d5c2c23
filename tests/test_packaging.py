"""A non-editable install carries every data file of the packages (the lent GPU machine installs the project
from a wheel; without its shortcode table the parser failed there)."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_holds_every_data_file_of_the_packages(tmp_path):
    data = sorted(p.relative_to(ROOT / "packages").as_posix() for p in (ROOT / "packages").rglob("*")
                  if p.is_file() and p.suffix not in (".py", ".pyc") and "egg-info" not in p.as_posix())
    assert "argdown_lbl/argdown/shortcodes.json" in data
    # from a clean copy: an editable install's egg-info lists the files it saw, and setuptools reuses that list
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "packages", src / "packages", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "dist"), str(src)], check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("argunauts-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert [f for f in data if f not in names] == []
