"""Small-scale reproductions of the paper's findings (one module per study)."""
