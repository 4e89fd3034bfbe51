"""``rasa train`` with the measured training patch of :mod:`bot.ops.rasa_patches` applied.

    python -m bot.ops.rasa_train --config C --domain D --data N --out O --fixed-model-name F

Everything after the module name is passed to ``rasa train`` unchanged; only
:func:`bot.ops.runtime.train_if_needed` starts this.
"""
from __future__ import annotations

import sys

from bot.config import quiet_libraries


def main(argv: list[str] | None = None) -> int:
    quiet_libraries()
    args = list(sys.argv[1:] if argv is None else argv)
    sys.argv = ["rasa", "train", *args]
    from rasa.__main__ import main as rasa_main

    from bot.ops.rasa_patches import apply as apply_patches

    apply_patches()  # DIET's training step traced once, not twice (patch 4)
    rasa_main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
