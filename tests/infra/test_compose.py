"""docker-compose.yml passes infra/dev/compose-check.sh, and the check rejects broken files."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_CHECK = REPO_ROOT / "infra" / "dev" / "compose-check.sh"
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
KAFKA_POM = REPO_ROOT / "infra" / "kafka" / "pom.xml"


def compose_check(path: Path) -> subprocess.CompletedProcess[str]:
    # Generous timeout: on a fresh machine the first call apt-installs docker-compose.
    return subprocess.run(
        [str(COMPOSE_CHECK), str(path)], capture_output=True, text=True, timeout=900, check=False
    )


def broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    text = COMPOSE_FILE.read_text()
    # Fail loudly if the real file changed shape, instead of "breaking" nothing.
    assert old in text, f"{old!r} no longer in docker-compose.yml; update this test"
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace(old, new, 1))
    return broken


def test_repo_compose_file_is_valid() -> None:
    result = compose_check(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param("    image: postgres:16\n", "    imagee: postgres:16\n", id="unknown-key"),
        pytest.param("      retries: 12\n", "      retries: twelve\n", id="non-integer-retries"),
        pytest.param(
            '      - "127.0.0.1:55432:5432"\n',
            "      - {target: postgres, published: 55432}\n",
            id="non-integer-port",
        ),
        pytest.param("services:\n", "services: []\n", id="services-not-a-mapping"),
    ],
)
def test_broken_compose_file_is_rejected(tmp_path: Path, old: str, new: str) -> None:
    result = compose_check(broken_copy(tmp_path, old, new))
    assert result.returncode != 0, f"accepted a broken file:\n{result.stdout}{result.stderr}"


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    assert compose_check(tmp_path / "absent.yml").returncode != 0


def test_compose_kafka_image_matches_the_local_broker_version() -> None:
    pom_version = re.search(r"<kafka.version>([^<]+)</kafka.version>", KAFKA_POM.read_text())
    assert pom_version, "no <kafka.version> in infra/kafka/pom.xml"
    assert f"image: apache/kafka:{pom_version.group(1)}\n" in COMPOSE_FILE.read_text()
