"""Client keys for the judge and the recorded-runs source can come from a file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from evaluation.settings import JudgeSettings, RecordedRunsSettings
from pydantic import ValidationError


def test_keys_come_from_a_file_and_settings_win(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"acme": "ak_file", "globex": "ak_globex"}))
    judge = JudgeSettings(api_keys_file=keys, api_keys={"acme": "ak_env"})  # type: ignore[arg-type]
    assert judge.api_keys["acme"].get_secret_value() == "ak_env"
    assert judge.api_keys["globex"].get_secret_value() == "ak_globex"
    runs = RecordedRunsSettings(api_keys_file=keys)
    assert runs.api_keys["acme"].get_secret_value() == "ak_file"


def test_an_unreadable_key_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"missing\.json"):
        JudgeSettings(api_keys_file=tmp_path / "missing.json")
    bad = tmp_path / "list.json"
    bad.write_text("[1]")
    with pytest.raises(ValidationError, match="not a JSON object"):
        RecordedRunsSettings(api_keys_file=bad)
