"""Statistics for poll results: pure Python and NumPy, no Flask, no database."""
