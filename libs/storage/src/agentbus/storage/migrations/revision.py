"""Write a service's next revision file by comparing its metadata with its migrated schema."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, create_engine

from .runner import alembic_config

__all__ = ["make_revision"]


def make_revision(metadata: MetaData, versions: Path, *, branch: str, message: str) -> Path | None:
    """Autogenerate `versions`' next revision on `branch` from `metadata`; its path.

    The comparison runs against a scratch SQLite database brought to the branch's head,
    so no service database is needed; the first revision starts the branch.
    """
    versions = versions.resolve()
    # "model-router" -> "model_router_0002": revision ids and module names mypy accepts.
    prefix = re.sub(r"\W", "_", branch)
    versions.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{Path(scratch) / 'scratch.db'}")
        try:
            with engine.connect() as connection:
                config = alembic_config([versions], connection)
                command.upgrade(config, "heads")
                connection.commit()
                config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
                config.attributes["target_metadata"] = metadata
                existing = _revisions_in(ScriptDirectory.from_config(config), versions)
                script = command.revision(
                    config,
                    message=message,
                    autogenerate=True,
                    head=f"{branch}@head" if existing else "base",
                    branch_label=None if existing else branch,
                    version_path=str(versions),
                    rev_id=f"{prefix}_{len(existing) + 1:04d}",
                )
        finally:
            engine.dispose()
    scripts = script if isinstance(script, list) else [script]
    return Path(scripts[0].path) if scripts and scripts[0] is not None else None


def _revisions_in(script: ScriptDirectory, versions: Path) -> list[str]:
    return [s.revision for s in script.walk_revisions() if Path(s.path).parent == versions]
