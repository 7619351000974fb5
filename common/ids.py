"""Resource ids: a short prefix naming the kind (`prog_`, `gr_`, `match_` …) and 80 random bits in hex."""

import secrets

ID_RANDOM_BYTES = 10


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(ID_RANDOM_BYTES)}"
