"""``python -m genorm.cli``: the genorm command."""

from genorm.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
