"""``python -m nerkit`` (also what ``torchrun -m nerkit train ...`` runs)."""

from .cli.main import app

if __name__ == "__main__":
    app(prog_name="nerkit")
