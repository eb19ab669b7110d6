"""The paper's experiments, each a function returning result rows (the CLI prints and stores them)."""

__all__: list[str] = []
