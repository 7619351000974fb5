"""What the benchmarks that start the suite as processes share: a database made ready with the chiiki command."""

import subprocess
import sys


def prepare_database(env: dict, label: str) -> str:
    """Migrate the database `env` names and load the reference data; return a new app key."""
    chiiki = [sys.executable, "-m", "common.cli"]
    subprocess.run([*chiiki, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([*chiiki, "data", "load"], env=env, check=True, capture_output=True)
    created = subprocess.run(
        [*chiiki, "keys", "create", "--role", "app", "--label", label],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return created.stdout.strip().splitlines()[-1]
